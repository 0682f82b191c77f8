"""The atlas's error type: every problem found in a set of data files, each located to a line."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AtlasError", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a data file, as ``file:line: field: what is wrong (how to fix it)``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}"


class AtlasError(ValueError):
    """Raised with every problem found at once when an atlas cannot be loaded."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the atlas"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])
