"""The Ministry of Unification's yearly arrivals in South Korea, total and by sex (bundled CSV)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ARRIVALS_FILE", "Observed", "load_arrivals"]

ARRIVALS_FILE = Path(__file__).parent / "data" / "arrivals_by_year.csv"


@dataclass(frozen=True)
class Observed:
    """Arrivals per year; ``female`` is None where the ministry published no split."""

    years: tuple[int, ...]
    total: tuple[int, ...]
    female: tuple[int | None, ...]

    def get(self, year: int) -> tuple[int, int | None]:
        i = self.years.index(year)
        return self.total[i], self.female[i]


def load_arrivals(path: Path | None = None) -> Observed:
    """Read the yearly series, skipping rows that are not one year (the cumulative bucket)."""
    path = path or ARRIVALS_FILE
    years: list[int] = []
    total: list[int] = []
    female: list[int | None] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            if not (row.get("year") or "").isdigit():
                continue
            try:
                years.append(int(row["year"]))
                total.append(int(row["total"]))
                female.append(int(row["female"]) if row.get("female") else None)
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path.name}:{line}: cannot read the row ({exc})") from exc
    return Observed(tuple(years), tuple(total), tuple(female))
