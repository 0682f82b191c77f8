"""Shared fixtures: the toy atlas's data and helpers to write atlas directories; test order."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from nkescape.atlas import toy_data


@pytest.fixture
def toy() -> dict[str, list[dict[str, Any]]]:
    """A fresh, mutable copy of the toy atlas's data."""
    return copy.deepcopy(toy_data())


def write_atlas(root: Path, data: dict[str, Any], *, split: bool = True) -> Path:
    """Write ``data`` as YAML files under ``root``, one file per kind when ``split``."""
    root.mkdir(parents=True, exist_ok=True)
    if split:
        for kind, entries in data.items():
            (root / f"{kind}.yaml").write_text(
                yaml.safe_dump({kind: entries}, sort_keys=False), encoding="utf-8"
            )
    else:
        (root / "atlas.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests marked ``slow`` first, in their own order, then the rest in theirs.

    With ``-n auto`` (scripts/test) the workers take tests in this order, so a minutes-long test
    starts at once and the short ones fill the other cores around it instead of waiting for it at
    the end. Tests do not depend on their order (each builds what it needs), so this changes only
    the time a run takes.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
