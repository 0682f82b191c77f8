"""Reading the flow model's data files (parameters, provinces, published figures): one reader,
so that each names a problem by file, line and field in the atlas's words."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from nkescape.atlas import Atlas, AtlasError, Problem
from nkescape.atlas._yaml import Lines, dotted, line_of, read_yaml
from nkescape.atlas.loader import error_message

__all__ = ["Strict", "problem_at", "read_spec", "unknown_sources"]


class Strict(BaseModel):
    """A part of a flow data file: no field the model does not know, and frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_Spec = TypeVar("_Spec", bound=BaseModel)


def read_spec(path: Path, default: Path, model: type[_Spec]) -> tuple[_Spec, Lines, str]:
    """Parse a flow data file into ``model``; raise AtlasError naming file, line and field.

    Returns the parsed file, the line of every path in it, and the name its problems go under
    (the bare file name for the bundled file, the path given otherwise).
    """
    name = path.name if path == default else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AtlasError([Problem(name, None, "file", f"cannot read it ({exc.strerror})")]) from exc
    data, lines, problems = read_yaml(text, name)
    if problems:
        raise AtlasError(problems)
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        raise AtlasError(
            [
                Problem(name, line_of(lines, e["loc"]), dotted(e["loc"]) or "(file)", _say(e))
                for e in exc.errors()
            ]
        ) from exc
    return spec, lines, name


def problem_at(name: str, lines: Lines, where: tuple[Any, ...], message: str) -> Problem:
    """A problem at ``where`` in the file (its line, or the nearest enclosing one's)."""
    return Problem(name, line_of(lines, where), dotted(where), message)


def _say(err: Any) -> str:
    # The atlas's wording, except its "did you mean" for unknown fields, which names atlas fields.
    if err["type"] == "extra_forbidden":
        return f"unknown field {str(err['loc'][-1])!r} (remove it)"
    return error_message(err)


def unknown_sources(
    atlas: Atlas, name: str, lines: Lines, cited: Sequence[tuple[tuple[Any, ...], Sequence[str]]]
) -> list[Problem]:
    """A problem for every cited id (at its path in the file) that the atlas has no source for."""
    return [
        problem_at(name, lines, where, f"unknown source {ref!r} (add it to the atlas's sources)")
        for where, refs in cited
        for ref in refs
        if ref not in atlas.sources
    ]
