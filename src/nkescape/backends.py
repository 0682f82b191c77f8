"""Which kernel runs, and where: the one vocabulary of the planner and the simulator.

``backend`` names the kernel (``numpy``, ``numba``, ``jax`` or ``auto``) and ``device`` where it
runs (``cpu`` or ``gpu``); :func:`resolve` turns the two into the :class:`Engine` that runs, or
says why it cannot: an explicit choice that cannot be honoured is an error naming the fix, never
silently replaced by another kernel. ``simulate``, ``plan``, ``pareto_search``, the command line
and the web API all resolve through it.

The module imports nothing heavy: the command line builds its choices (and ``--help``) from these
tuples without loading NumPy, and the availability checks look packages up without importing
them (only a GPU check imports JAX, to ask it for its devices).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BACKENDS",
    "BACKEND_HELP",
    "DEVICES",
    "DEVICE_HELP",
    "INSTALL",
    "PLANNER_BACKENDS",
    "BackendError",
    "Engine",
    "gpu_visible",
    "installed",
    "numba_available",
    "resolve",
]

# The kernels: "auto" picks one for the device (see ``resolve``).
BACKENDS = ("auto", "numpy", "numba", "jax")
# Where they run. A GPU is JAX's; the NumPy and numba kernels run on the CPU only.
DEVICES = ("cpu", "gpu")
# The planner's kernels: the label-setting search has no JAX version.
PLANNER_BACKENDS = ("auto", "numpy", "numba")

# What the command line and the web API say of each choice.
BACKEND_HELP = (
    "The kernel: numpy (the reference), numba (compiled; the `fast` extra), jax (the `gpu` "
    "extra; on --device cpu it draws what it draws on a GPU), or auto (on the CPU numba when "
    "installed, else numpy; on a GPU jax). A choice that cannot run here is an error."
)
DEVICE_HELP = "cpu, or gpu (the JAX kernel; an error if JAX sees no GPU, nothing falls back)."

Backend = Literal["numpy", "numba", "jax"]
Device = Literal["cpu", "gpu"]
What = Literal["simulator", "planner"]

# The extra that installs each optional kernel's package (pyproject.toml's optional-dependencies).
INSTALL = {
    "numba": "pip install 'nkescape[fast]'",
    "jax": "pip install 'nkescape[gpu]' (with a CUDA build of jax for a GPU)",
}

# Names used before this vocabulary, and what replaced them (for the error's hint).
_RENAMED_BACKENDS = {"python": "backend='numpy' (the plain-Python planner search is 'numpy' now)"}
_RENAMED_DEVICES = {
    "jax-cpu": "backend='jax', device='cpu' (the JAX kernel on the CPU)",
    "auto": "device='cpu' or 'gpu' (nothing falls back from a GPU any more; backend='auto' "
    "picks the kernel for the device)",
}


class BackendError(ValueError):
    """A backend or device that is unknown, or that cannot run here (with the fix)."""


@dataclass(frozen=True)
class Engine:
    """The kernel that runs and the device it runs on, as :func:`resolve` chose them."""

    backend: Backend
    device: Device

    def __str__(self) -> str:
        return f"{self.backend} on the {self.device.upper()}"


def installed(package: str) -> bool:
    """Whether ``package`` can be imported, found without importing it."""
    return importlib.util.find_spec(package) is not None


def numba_available() -> bool:
    """Whether numba (the ``fast`` extra) is installed."""
    return installed("numba")


def gpu_visible() -> bool:
    """Whether JAX is installed and sees a GPU (imports JAX)."""
    if not installed("jax"):
        return False
    import jax

    try:
        return len(jax.devices("gpu")) > 0
    except RuntimeError:  # no GPU backend in this jax build, or no device
        return False


def _check_name(value: object, kind: str, allowed: tuple[str, ...], renamed: dict[str, str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        hint = f"; use {renamed[value]}" if isinstance(value, str) and value in renamed else ""
        raise BackendError(f"unknown {kind} {value!r} (one of {', '.join(allowed)}){hint}")
    return value


def _need(package: str, why: str) -> None:
    if not installed(package):
        raise BackendError(f"{why} needs {package}, which is not installed: {INSTALL[package]}")


def resolve(
    backend: str = "auto",
    device: str = "cpu",
    *,
    what: What = "simulator",
    small: bool = False,
) -> Engine:
    """The engine that runs ``backend`` on ``device``, or a :class:`BackendError` naming the fix.

    Parameters
    ----------
    backend
        ``numpy`` (the reference kernel), ``numba`` (compiled; the ``fast`` extra), ``jax`` (the
        simulator's JAX kernel; the ``gpu`` extra) or ``auto``: on the CPU numba when it is
        installed, else NumPy; on a GPU JAX.
    device
        ``cpu`` or ``gpu`` (the JAX kernel on a GPU that JAX sees).
    what
        ``simulator`` or ``planner``; the planner runs on the CPU, with NumPy or numba.
    small
        The job is small enough that compiling a numba kernel (seconds, once per machine) would
        cost more than it saves: ``auto`` then picks NumPy. An explicit ``numba`` still runs.

    Raises
    ------
    BackendError
        For an unknown name (with the new name of one used before); an explicit kernel whose
        package is not installed (with the ``pip install`` that adds it); a CPU kernel asked
        to run on a GPU; a GPU that JAX does not see; the planner asked for JAX or a GPU.

    Examples
    --------
    >>> resolve("numpy")
    Engine(backend='numpy', device='cpu')
    >>> resolve("jax", what="planner")
    Traceback (most recent call last):
    ...
    nkescape.backends.BackendError: the planner has no JAX kernel: use backend numpy, numba or auto
    """
    allowed = PLANNER_BACKENDS if what == "planner" else BACKENDS
    if what == "planner" and backend == "jax":
        raise BackendError(
            f"the planner has no JAX kernel: use backend {', '.join(PLANNER_BACKENDS[1:])} or auto"
        )
    name = _check_name(backend, "backend", allowed, _RENAMED_BACKENDS)
    where = _check_name(device, "device", DEVICES, _RENAMED_DEVICES)
    if where == "gpu":
        if what == "planner":
            raise BackendError("the planner runs on the CPU: use device cpu")
        if name in ("numpy", "numba"):
            raise BackendError(
                f"the {name} kernel runs on the CPU: use device cpu, or backend jax (or auto) "
                "for the GPU"
            )
        _need("jax", "the GPU kernel")
        if not gpu_visible():
            raise BackendError(
                "no GPU visible to JAX (install a CUDA build of jax, check the driver with "
                "nvidia-smi, or use device cpu)"
            )
        return Engine("jax", "gpu")
    if name == "auto":
        return Engine("numba" if numba_available() and not small else "numpy", "cpu")
    if name == "numba":
        _need("numba", "the numba kernel")
        return Engine("numba", "cpu")
    if name == "jax":
        _need("jax", "the JAX kernel")
        return Engine("jax", "cpu")
    return Engine("numpy", "cpu")
