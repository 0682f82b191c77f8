"""The public API list is complete, and lower layers never import upper ones."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import nkescape

# Data flows one way: a package may import only packages to its left. The dashboard (web) stands
# beside the command line and never imports it; the command line starts it (`nkescape serve`).
LAYERS = ["atlas", "routing", "simulate", "flows", "report", "board", "web", "cli"]
# The board sits beside the analysis, not on it: it plans and simulates journeys but has no use
# for the flow model or the reports (and so stays light to import for the coordination pages).
BESIDE = {"board": {"flows", "report"}}


@pytest.mark.parametrize(
    "package",
    [
        "nkescape.atlas",
        "nkescape.routing",
        "nkescape.simulate",
        "nkescape.report",
        "nkescape.board",
    ],
)
def test_all_is_complete_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert hasattr(module, name), name
    public = {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__.startswith(package)
    }
    assert public <= set(module.__all__), public - set(module.__all__)


def test_the_package_exports_resolve_and_match_what_type_checkers_see() -> None:
    for name in nkescape.__all__:
        assert getattr(nkescape, name) is not None, name
        assert name in dir(nkescape)
    # The names imported under TYPE_CHECKING (what mypy sees) are those __getattr__ serves.
    tree = ast.parse(Path(nkescape.__file__).read_text(encoding="utf-8"))
    typed = {
        (node.module, alias.name)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    served = {(module, name) for name, module in nkescape._LAZY.items()}
    assert typed == served
    assert set(nkescape.__all__) == {*nkescape._LAZY, "__version__"}
    # Each name is the object of the module that defines it (simulate: the callable package).
    for module, name in served:
        value = getattr(importlib.import_module(module), name)
        assert getattr(nkescape, name) is value or name == "simulate", name
    assert nkescape.simulate is importlib.import_module("nkescape.simulate")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_lower_layers_never_import_upper_ones() -> None:
    root = Path(nkescape.__file__).parent
    for info in pkgutil.walk_packages([str(root)], prefix="nkescape."):
        module = importlib.import_module(info.name)
        file = getattr(module, "__file__", None)
        if file is None:
            continue
        layer = info.name.split(".")[1]
        if layer not in LAYERS:
            continue
        for imported in _imports(Path(file)):
            parts = imported.split(".")
            if parts[0] != "nkescape" or len(parts) < 2 or parts[1] not in LAYERS:
                continue
            assert LAYERS.index(parts[1]) <= LAYERS.index(layer), (
                f"{info.name} imports {imported}: {layer} must not depend on {parts[1]}"
            )
            assert parts[1] not in BESIDE.get(layer, set()), (
                f"{info.name} imports {imported}: {layer} must not depend on {parts[1]}"
            )
