"""Load atlas data files from directories (the bundled atlas and private overlays) into an Atlas.

Every problem in every file is collected and raised at once as an :class:`AtlasError`.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from nkescape.atlas._yaml import Lines, dotted, line_of, read_yaml
from nkescape.atlas.errors import AtlasError, Problem
from nkescape.atlas.model import Atlas, Definition, Override
from nkescape.atlas.schema import KINDS, SINGULAR
from nkescape.atlas.validate import Unparsed, cross_check

__all__ = ["BUNDLED_DIR", "atlas_from_data", "bundled_atlas", "load_atlas"]

BUNDLED_DIR = Path(str(resources.files("nkescape.atlas") / "data"))


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for arg in _types_in(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _field_names(arg, seen)
    return names


def _types_in(annotation: Any) -> Iterable[Any]:
    yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _types_in(arg)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None:
        yield from _types_in(origin)


# Every field name the schema knows, to suggest a spelling for unknown fields.
_FIELD_NAMES = sorted(set().union(*(_field_names(m, set()) for m in KINDS.values())))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def error_message(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    loc = err["loc"]
    last = loc[-1] if loc else ""
    got = _short(err.get("input"))
    if kind == "missing":
        if last == "source":
            return (
                "no source for this number or entry (add `source: <id>` naming an entry of sources)"
            )
        return "required field is missing (add it; see docs/schema.md)"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(last), _FIELD_NAMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {str(last)!r} (remove it{hint})"
    if kind == "literal_error":
        return f"got {got}, expected one of {err['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        return f"{got} is not a valid id (use a lowercase slug such as 'tumen-ice-walk')"
    if kind == "finite_number":
        return f"got {got}: NaN and infinity are not allowed (write a number)"
    if "months" in loc and kind in ("greater_than_equal", "less_than_equal"):
        return f"unknown month {got} (months are 1-12)"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        ctx = err.get("ctx", {})
        op, bound = next(
            (sym, ctx[key])
            for key, sym in (("ge", ">="), ("le", "<="), ("gt", ">"), ("lt", "<"))
            if key in ctx
        )
        return f"got {got}, must be {op} {bound}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind.startswith(("float_", "int_")):
        what = "a number"
        if kind.startswith("int_"):
            what = "a month 1-12" if "months" in loc else "a whole number"
        value = err.get("input")
        if isinstance(value, bool):
            return (
                f"got {got}, expected {what} (YAML reads yes, no, on, off, true and false as "
                "booleans; write the number)"
            )
        if isinstance(value, str):
            return f"got {got}, expected {what}, not text (remove the quotes)"
        return f"got {got}, expected {what}"
    if kind == "bool_type":
        return f"got {got}, expected true or false"
    if kind in ("tuple_type", "list_type"):
        return f"got {got}, expected a list"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"got {got}, expected a mapping of fields"
    return f"{err['msg']} (got {got})"


def _entries_of(
    value: Any, lines: Lines, file: str, layer: int, reading: _Reading
) -> list[Definition]:
    """Validate the entries of one parsed file."""
    problems, unparsed = reading.problems, reading.unparsed
    if value is None:
        return []
    if not isinstance(value, dict):
        problems.append(
            Problem(
                file,
                line_of(lines, ()),
                "(file)",
                "expected a mapping of kinds at the top (sources:, places:, legs:, ...)",
            )
        )
        reading.lost(KINDS, _ids_in(value))
        return []
    by_entry: dict[tuple[Any, ...], Lines] = {}
    for path, line in lines.items():
        if len(path) >= 2:
            by_entry.setdefault(path[:2], {})[path[2:]] = line
    out: list[Definition] = []
    for kind, items in value.items():
        if kind not in KINDS:
            close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(KINDS)}"
            problems.append(
                Problem(file, line_of(lines, (kind,)), str(kind), f"unknown kind ({hint})")
            )
            reading.lost(KINDS, _ids_in(items))
            continue
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(
                Problem(
                    file,
                    line_of(lines, (kind,)),
                    kind,
                    f"expected a list of {kind} (write each entry as '- id: ...')",
                )
            )
            reading.lost((kind,), _ids_in(items))
            continue
        model = KINDS[kind]
        for i, raw in enumerate(items):
            entry_lines = by_entry.get((kind, i), {})
            label = f"{kind}[{i}]"
            if not isinstance(raw, dict):
                problems.append(
                    Problem(
                        file,
                        line_of(lines, (kind, i)),
                        label,
                        f"expected a mapping of fields, got {_short(raw)}",
                    )
                )
                reading.lost((kind,), ())
                continue
            ident = raw.get("id")
            what = f" ({SINGULAR[kind]} {ident})" if isinstance(ident, str) else ""
            try:
                entry = model.model_validate(raw)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = tuple(err["loc"])
                    problems.append(
                        Problem(
                            file,
                            line_of(entry_lines, loc) or line_of(lines, (kind, i)),
                            dotted(loc) or label,
                            error_message(err) + what,
                        )
                    )
                unparsed.append(Unparsed(kind, raw, file, line_of(lines, (kind, i)), entry_lines))
                continue
            out.append(
                Definition(
                    kind=kind,
                    entry=entry,
                    file=file,
                    line=line_of(lines, (kind, i)),
                    lines=entry_lines,
                    layer=layer,
                )
            )
    return out


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# Data files are read whatever the case of their suffix (extra.YAML is as much a data file).
_SUFFIXES = (".yaml", ".yml")


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a data file (a directory, a pipe, a broken link), or None."""
    link = path.is_symlink()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"a link to {str(path.readlink())!r}, which does not exist" if link else "gone"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    what = next(
        (
            name
            for test, name in (
                (stat.S_ISDIR, "a directory"),
                (stat.S_ISFIFO, "a named pipe"),
                (stat.S_ISCHR, "a device"),
                (stat.S_ISBLK, "a device"),
                (stat.S_ISSOCK, "a socket"),
            )
            if test(mode)
        ),
        "not a regular file",
    )
    return f"a link to {str(path.readlink())!r}, {what}" if link else what


@dataclass
class _Reading:
    """What reading the directories found, besides the entries."""

    problems: list[Problem] = field(default_factory=list)
    unparsed: list[Unparsed] = field(default_factory=list)
    # Ids defined in files (or blocks of a file) that could not be read, so that references to
    # them are not reported as unknown: the file's own problem is the one to fix.
    salvaged: set[tuple[str, str]] = field(default_factory=set)
    # Whether some file or block was lost whole: checks that something is absent are then
    # unreliable and wait until it reads.
    incomplete: bool = False

    def lost(self, kinds: Iterable[str], ids: Iterable[str]) -> None:
        self.incomplete = True
        ids = list(ids)
        self.salvaged |= {(kind, i) for kind in kinds for i in ids}


# An entry's id as it is written in a file, block or flow style.
_ID = re.compile(r"(?:^|[\s{,-])id\s*:\s*['\"]?([a-z0-9]+(?:-[a-z0-9]+)*)['\"]?\s*(?=[,}#]|$)")
_TOP_KEY = re.compile(r"^([A-Za-z_]+)\s*:")


def _salvage(text: str, reading: _Reading) -> None:
    """Ids defined in the text of a file that failed to parse, by the kind above each."""
    kind: str | None = None
    for raw in text.splitlines():
        top = _TOP_KEY.match(raw)
        if top is not None:
            kind = top.group(1) if top.group(1) in KINDS else None
        ids = _ID.findall(raw)
        reading.lost(KINDS if kind is None else (kind,), ids)
    reading.incomplete = True


def _ids_in(value: Any) -> Iterable[str]:
    """Every string under an ``id`` key in parsed data."""
    if isinstance(value, dict):
        ident = value.get("id")
        if isinstance(ident, str):
            yield ident
        for v in value.values():
            yield from _ids_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from _ids_in(v)


def _read_text(path: Path, name: str, reading: _Reading) -> str | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        reading.problems.append(Problem(name, None, "(file)", f"cannot read: {exc.strerror}"))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reading.problems.append(
            Problem(
                name,
                line,
                "(file)",
                f"not UTF-8 text: byte 0x{data[exc.start]:02x} is an {exc.reason} "
                "(save the file as UTF-8)",
            )
        )
        _salvage(data.decode("utf-8", errors="replace"), reading)
        return None


def _read_dir(root: Path, layer: int, reading: _Reading) -> list[Definition]:
    problems = reading.problems
    if not root.is_dir():
        problems.append(
            Problem(
                _display(root), None, "(directory)", "not a directory (give an atlas directory)"
            )
        )
        return []
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in _SUFFIXES)
    if not paths:
        problems.append(
            Problem(_display(root), None, "(directory)", "no .yaml files here (is it an atlas?)")
        )
    out: list[Definition] = []
    for path in paths:
        name = _display(path)
        why = _not_a_file(path)
        if why is not None:
            problems.append(
                Problem(
                    name,
                    None,
                    "(file)",
                    f"{why}, not a data file (every *.yaml and *.yml entry of an atlas must be "
                    "a regular file; rename or remove it)",
                )
            )
            reading.incomplete = True
            continue
        text = _read_text(path, name, reading)
        if text is None:
            continue
        value, lines, found = read_yaml(text, name)
        problems.extend(found)
        if value is None and any(p.field == "(file)" for p in found):
            _salvage(text, reading)
        out.extend(_entries_of(value, lines, name, layer, reading))
    return out


def _inside_git_tree(path: Path) -> bool:
    return any((parent / ".git").exists() for parent in (path.resolve(), *path.resolve().parents))


def _merge(
    layers: Sequence[list[Definition]], problems: list[Problem]
) -> tuple[dict[tuple[str, str], Definition], list[Override]]:
    merged: dict[tuple[str, str], Definition] = {}
    overrides: list[Override] = []
    for defs in layers:
        seen: dict[tuple[str, str], Definition] = {}
        for d in defs:
            key = (d.kind, d.ident)
            if key in seen:
                first = seen[key]
                problems.append(
                    Problem(
                        d.file,
                        d.line,
                        "id",
                        f"duplicate {SINGULAR[d.kind]} id {d.ident!r} (also at "
                        f"{first.file}:{first.line}; rename one or remove it)",
                    )
                )
                continue
            seen[key] = d
            if key in merged:
                overrides.append(Override(key=key, replaced=merged[key], by=d))
            merged[key] = d
    return merged, overrides


def load_atlas(
    *layers: str | os.PathLike[str], overlays: Sequence[str | os.PathLike[str]] = ()
) -> Atlas:
    """Load an atlas from directories of YAML files.

    Parameters
    ----------
    layers
        Atlas directories, later ones overriding earlier ones by kind and id. None means the
        bundled atlas.
    overlays
        Private directories layered on top of ``layers``, e.g. an NGO's own additions.

    Raises
    ------
    AtlasError
        With every problem found, each located to a file, line and field.

    Examples
    --------
    >>> atlas = load_atlas()
    >>> atlas.places["hyesan"].country
    'KP'
    """
    roots = [Path(p) for p in layers] or [BUNDLED_DIR]
    overlay_roots = [Path(p) for p in overlays]
    reading = _Reading()
    read = [_read_dir(root, i, reading) for i, root in enumerate([*roots, *overlay_roots])]
    problems = reading.problems
    merged, overrides = _merge(read, problems)
    problems.extend(
        cross_check(
            merged, reading.unparsed, salvaged=reading.salvaged, incomplete=reading.incomplete
        )
    )
    if problems:
        raise AtlasError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    warnings = tuple(
        f"overlay {_display(root)} is inside a git work tree: private data there can be "
        "committed by mistake (keep overlays outside any repository)"
        for root in overlay_roots
        if _inside_git_tree(root)
    )
    return Atlas.from_definitions(
        merged,
        overrides=tuple(overrides),
        layers=tuple(map(_display, [*roots, *overlay_roots])),
        warnings=warnings,
    )


def atlas_from_data(data: Mapping[str, Any], *, name: str = "<data>") -> Atlas:
    """Build an atlas from data already in memory (a mapping of kinds to lists of entries).

    The same checks apply as for files; problems are located by entry instead of by line.
    """
    reading = _Reading()
    defs = _entries_of(dict(data), {}, name, 0, reading)
    problems = reading.problems
    merged, overrides = _merge([defs], problems)
    problems.extend(
        cross_check(
            merged, reading.unparsed, salvaged=reading.salvaged, incomplete=reading.incomplete
        )
    )
    if problems:
        raise AtlasError(problems)
    return Atlas.from_definitions(merged, overrides=tuple(overrides), layers=(name,), warnings=())


@functools.cache
def bundled_atlas() -> Atlas:
    """The bundled atlas, loaded once per process (atlases are immutable, so sharing is safe)."""
    return load_atlas()
