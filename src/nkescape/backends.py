"""The names of the simulator's kernels and devices: the vocabulary the library and the CLI share.

Kept apart from ``nkescape.simulate`` and free of imports, so that the command line can offer
these choices (and ``--help`` list them) without loading NumPy.
"""

from __future__ import annotations

__all__ = ["BACKENDS", "DEVICES"]

# Where the journeys run: a CPU kernel, the JAX kernel on a GPU, a GPU if JAX sees one (else the
# CPU with a warning), or the JAX kernel on the CPU (its draws, to compare with a GPU's).
DEVICES = ("cpu", "gpu", "auto", "jax-cpu")
# CPU kernels: "numba" (the `fast` extra) or "numpy" (the reference); "auto" is numba if installed.
BACKENDS = ("auto", "numpy", "numba")
