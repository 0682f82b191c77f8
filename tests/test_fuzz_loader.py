"""Property tests: however broken the input, the loader raises AtlasError or returns an Atlas."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nkescape.atlas import Atlas, AtlasError, atlas_from_data, load_atlas, toy_data

TOY_TEXT = yaml.safe_dump(toy_data(), sort_keys=False)
TOY_LINES = TOY_TEXT.splitlines()

# Fragments that break YAML or the schema in different ways.
NASTY = [
    "-1",
    ".nan",
    ".inf",
    "1e309",
    "1e308",
    "3654",
    "'3'",
    "true",
    "\x01",
    "[",
    "{",
    "}",
    "]",
    "null",
    "~",
    "x: y",
    "&a",
    "*a",
    "!!python/object:os.system {}",
    "!!binary AAAA",
    "13",
    "'",
    '"',
    "2011-13-45",
    "- ",
    "  ",
    "\t",
    ":",
    "? ",
    "<<: *a",
    "---",
    "...",
    "%YAML 1.1",
    "0x1F",
    "yes",
    "hom",
    "XX",
    "1.5",
    "99999999999999999999999",
    "é",
    "\\u0000",
]


def load_text(text: str, name: str = "fuzz.yaml") -> Atlas | None:
    root = Path(tempfile.mkdtemp(prefix="nkescape-fuzz-"))
    try:
        (root / name).write_text(text, encoding="utf-8")
        try:
            return load_atlas(root)
        except AtlasError as exc:
            assert exc.problems, "an AtlasError must carry at least one problem"
            assert all(str(p) for p in exc.problems)
            return None
    finally:
        shutil.rmtree(root)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text_never_escapes_as_another_exception(text: str) -> None:
    load_text(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_escape(data: bytes) -> None:
    root = Path(tempfile.mkdtemp(prefix="nkescape-fuzz-"))
    try:
        (root / "bytes.yaml").write_bytes(data)
        with contextlib.suppress(AtlasError):
            load_atlas(root)
    finally:
        shutil.rmtree(root)


@st.composite
def mutated_toy(draw: st.DrawFn) -> str:
    lines = list(TOY_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "replace", "insert", "indent", "swap"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "replace":
            head, _, _ = lines[i].partition(": ")
            lines[i] = f"{head}: {draw(st.sampled_from(NASTY))}"
        elif op == "insert":
            lines.insert(i, draw(st.sampled_from(NASTY)))
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "    "])) + lines[i].lstrip()
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_toy())
def test_mutated_atlas_files_give_atlas_errors(text: str) -> None:
    load_text(text, "atlas.yaml")


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(
        [
            "sources",
            "places",
            "legs",
            "policies",
            "profiles",
            "channels",
            "actors",
            "events",
            "cases",
            "nonsense",
        ]
    ),
    index=st.integers(0, 3),
    field=st.text(max_size=15),
    value=json_like,
)
def test_structured_mutations_of_data(kind: str, index: int, field: str, value: Any) -> None:
    data: dict[str, Any] = toy_data()
    entries = data.setdefault(kind, [])
    if entries and index < len(entries):
        entries[index][field or "id"] = value
    else:
        entries.append({field: value})
    try:
        atlas_from_data(data)
    except AtlasError as exc:
        assert exc.problems
