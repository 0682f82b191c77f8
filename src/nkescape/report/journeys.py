"""Per-journey results as a Parquet table, written chunk by chunk (the ``parquet`` extra)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from nkescape.simulate import OUTCOMES, Chunk, Summary

__all__ = ["METADATA_KEY", "JourneyWriter", "read_journey_metadata"]

# The schema metadata key under which the run's ``Summary.metadata()`` is stored, as JSON.
METADATA_KEY = "nkescape"


class JourneyWriter:
    """Append each chunk of journeys to one Parquet file, one row group per chunk.

    Columns: ``outcome`` (dictionary-encoded), ``end_leg`` (leg id where it ended, null if it
    completed), ``days_to_safety`` (null if never safe), ``days`` and ``cost_usd``. The schema
    metadata holds, under ``"nkescape"``, the JSON of the run's ``Summary.metadata()``: format,
    versions, kernel, device, question and seed. The file is opened at the first chunk, so that
    ``start`` (simulate's ``on_start``) can give it the run's metadata first.

    Examples
    --------
    >>> import datetime as dt, tempfile
    >>> from pathlib import Path
    >>> from nkescape.atlas import toy_atlas
    >>> from nkescape.routing import plan
    >>> from nkescape.simulate import simulate
    >>> atlas = toy_atlas()
    >>> p = plan(atlas, "home", "capital", month=1, today=dt.date(2017, 1, 1))
    >>> legs = tuple(s.leg for s in p.itineraries[0].legs)
    >>> path = Path(tempfile.mkdtemp()) / "journeys.parquet"
    >>> with JourneyWriter(path, legs) as writer:
    ...     _ = simulate(
    ...         atlas, p, runs=1_000, seed=3, backend="numpy",
    ...         on_start=writer.start, on_chunk=writer.write,
    ...     )
    >>> meta = read_journey_metadata(path)
    >>> meta["seed"], meta["kernel"], meta["query"]["origin"], writer.rows
    (3, 'numpy', 'home', 1000)
    """

    def __init__(
        self, path: Path, legs: tuple[str, ...], metadata: Mapping[str, Any] | None = None
    ) -> None:
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
        self._pq = pq
        self._path = path
        self._writer: Any = None
        self._metadata = dict(metadata) if metadata is not None else None
        self.rows = 0

    def start(self, summary: Summary) -> None:
        """Record the run's metadata (``Summary.metadata()``); call before the first chunk."""
        if self._writer is not None:
            raise RuntimeError("JourneyWriter.start: the file is already open")
        self._metadata = summary.metadata()

    def _open(self) -> Any:
        if self._writer is None:
            schema = self.schema
            if self._metadata is not None:
                schema = schema.with_metadata({METADATA_KEY: json.dumps(self._metadata)})
            self._writer = self._pq.ParquetWriter(self._path, schema)
        return self._writer

    def write(self, chunk: Chunk) -> None:
        """Append one chunk of journeys as a row group."""
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
        self._open().write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file (written with no rows if no chunk came)."""
        self._open().close()

    def __enter__(self) -> JourneyWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_journey_metadata(path: Path) -> dict[str, Any]:
    """The run's metadata stored in a journeys Parquet file (empty if it has none).

    Raises
    ------
    ImportError
        Without pyarrow, with the install hint.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("Parquet input needs pyarrow: pip install 'nkescape[parquet]'") from exc
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY.encode())
    return dict(json.loads(raw)) if raw is not None else {}
