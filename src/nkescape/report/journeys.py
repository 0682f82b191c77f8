"""Per-journey results as a Parquet table, written chunk by chunk (the ``parquet`` extra)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from nkescape.simulate import OUTCOMES, Chunk

__all__ = ["JourneyWriter"]


class JourneyWriter:
    """Append each chunk of journeys to one Parquet file, one row group per chunk.

    Columns: ``outcome`` (dictionary-encoded), ``end_leg`` (leg id where it ended, null if it
    completed), ``days_to_safety`` (null if never safe), ``days`` and ``cost_usd``.
    """

    def __init__(self, path: Path, legs: tuple[str, ...]) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ImportError(
                "Parquet output needs pyarrow: pip install 'nkescape[parquet]'"
            ) from exc
        self._pa = pa
        self._legs = pa.array(list(legs))
        self._outcomes = pa.array(list(OUTCOMES))
        self.schema = pa.schema(
            [
                ("outcome", pa.dictionary(pa.int8(), pa.string())),
                ("end_leg", pa.dictionary(pa.int16(), pa.string())),
                ("days_to_safety", pa.float64()),
                ("days", pa.float64()),
                ("cost_usd", pa.float64()),
            ]
        )
        self._writer = pq.ParquetWriter(path, self.schema)
        self.rows = 0

    def write(self, chunk: Chunk) -> None:
        pa = self._pa
        ended = chunk.end_leg >= 0
        table = pa.table(
            {
                "outcome": pa.DictionaryArray.from_arrays(
                    pa.array(chunk.status, pa.int8()), self._outcomes
                ),
                "end_leg": pa.DictionaryArray.from_arrays(
                    pa.array(chunk.end_leg, pa.int16(), mask=~ended), self._legs
                ),
                "days_to_safety": pa.array(chunk.days_to_safety, from_pandas=True),
                "days": pa.array(chunk.days),
                "cost_usd": pa.array(chunk.cost),
            },
            schema=self.schema,
        )
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> JourneyWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
