"""Time loading, validating and compiling the bundled atlas, against a plain YAML read.

Run: .venv/bin/python benchmarks/atlas.py
The reference is ``yaml.safe_load`` of the same files in the same process, so the ratio says what
validation and line tracking cost on top of parsing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import yaml

from nkescape.atlas import BUNDLED_DIR, compile_atlas, load_atlas


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    files = sorted(BUNDLED_DIR.rglob("*.yaml"))
    atlas = load_atlas()
    assert atlas.counts()["legs"] > 0, "the bundled atlas is empty"
    parse = best_of(lambda: [yaml.safe_load(f.read_text()) for f in files])
    load = best_of(load_atlas)
    build = best_of(lambda: compile_atlas(atlas))
    counts = ", ".join(f"{n} {k}" for k, n in atlas.counts().items())
    print(f"bundled atlas: {len(files)} files; {counts}")
    print(f"yaml.safe_load only (reference): {parse * 1e3:8.1f} ms")
    print(f"load_atlas (parse+validate):     {load * 1e3:8.1f} ms  ({load / parse:.1f}x reference)")
    print(f"compile_atlas:                   {build * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
