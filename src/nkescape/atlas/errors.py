"""The atlas's error type: every problem found in a set of data files, each located to a line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

__all__ = ["AtlasError", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a data file, as ``file:line: field: what is wrong (how to fix it)``.

    ``count`` is how many times the same problem was found at the same place (an entry repeated
    through YAML aliases reports each of its problems once, with the count).
    """

    file: str
    line: int | None
    field: str
    message: str
    count: int = 1

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        times = f" ({self.count:,} times)" if self.count > 1 else ""
        return f"{where}: {self.field}: {self.message}{times}"


def merge_repeats(problems: Iterable[Problem]) -> list[Problem]:
    """Identical problems (same file, line, field and message) as one, with their count.

    The order is that of each problem's first occurrence.
    """
    merged: dict[tuple[str, int | None, str, str], Problem] = {}
    for p in problems:
        key = (p.file, p.line, p.field, p.message)
        seen = merged.get(key)
        merged[key] = p if seen is None else replace(seen, count=seen.count + p.count)
    return list(merged.values())


class AtlasError(ValueError):
    """Raised with every problem found at once when an atlas cannot be loaded."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(merge_repeats(problems))
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the atlas"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])
