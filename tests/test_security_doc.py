"""``docs/security.md`` against the tests and the code, so that the document cannot drift.

It fails when the document cites a test that does not exist (or a parameter the test does not
take), when an ASVS 5.0.0 Level 1 or 2 requirement of the chapters it maps has no row, when a row
has no test where its status needs one or no reason where its status needs one, when a
"documented" row links to no section, or when a constant it names does not exist or does not
have the value it gives.

Tests are found in the test files' syntax trees, not by importing or collecting them (that takes
seconds a file): top-level ``def test_...`` functions, and the parameter ids pytest gives them,
from fixtures with ``params=`` (the storage backends) and from ``pytest.mark.parametrize`` with
literal values or ``list(NAME)`` of a module-level dict.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import datetime as dt
import importlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "security.md"
TESTS = ROOT / "tests"
# The module the board's tests take fixtures from: ``board_target = boardkit.board_target``.
FIXTURE_MODULE = "boardkit"

# A pytest node id as the document writes it: tests/FILE.py::test_name[optional parameter id].
NODE_ID = re.compile(r"tests/(test_\w+)\.py::(test_\w+)(?:\[([^\]]+)\])?")
# A row of a requirement table: | v5.0.0-C.S.R | L | asks | status | evidence and notes |
REQUIREMENT_ROW = re.compile(r"^\|\s*v5\.0\.0-(\d+\.\d+\.\d+)\s*\|")
# A row of the constants table: | `nkescape.module.NAME` | `value` | why |
CONSTANT_ROW = re.compile(r"^\|\s*`(nkescape(?:\.\w+)+)\.(\w+)`\s*\|\s*`([^`]+)`\s*\|")
# Any constant named in backticks: NAME_IN_CAPS, or a dotted nkescape.module.NAME.
NAMED_CONSTANT = re.compile(r"`(_?[A-Z][A-Z0-9_]{2,})`")
DOTTED_NAME = re.compile(r"`(nkescape(?:\.\w+)+)`")
SECTION_LINK = re.compile(r"\]\(#([a-z0-9-]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)

# The status words the document defines, and what each needs in its evidence cell.
STATUSES = frozenset({"met", "partly", "documented", "by design", "untested", "not met", "n/a"})
NEEDS_A_TEST = frozenset({"met", "partly"})
NEEDS_A_REASON = frozenset({"partly", "by design", "untested", "not met", "n/a"})
NEEDS_A_SECTION = frozenset({"documented"})
# A reason is a sentence, not a word: this many words beside any node ids.
MIN_REASON_WORDS = 4
# A requirement row's cells: requirement, level, what it asks, status, evidence and notes.
ROW_CELLS = 5

# The chapters the document maps in full: authentication, session management, authorization,
# cryptography, data protection, security logging and error handling.
MAPPED_CHAPTERS = frozenset({6, 7, 8, 11, 14, 16})
# The highest level the document covers; rows of a higher level are allowed but not required.
TOP_LEVEL = 2
# Every Level 1 and 2 requirement of those chapters with its level, from the standard's CSV
# (OWASP/ASVS, 5.0/docs_en/OWASP_Application_Security_Verification_Standard_5.0.0_en.csv).
ASVS_IN_SCOPE: dict[str, int] = {
    **{r: 1 for r in ("6.1.1", "6.2.1", "6.2.2", "6.2.3", "6.2.4", "6.2.5", "6.2.6")},
    **{r: 1 for r in ("6.2.7", "6.2.8", "6.3.1", "6.3.2", "6.4.1", "6.4.2")},
    **{r: 2 for r in ("6.1.2", "6.1.3", "6.2.9", "6.2.10", "6.2.11", "6.2.12", "6.3.3")},
    **{r: 2 for r in ("6.3.4", "6.4.3", "6.4.4", "6.5.1", "6.5.2", "6.5.3", "6.5.4", "6.5.5")},
    **{r: 2 for r in ("6.6.1", "6.6.2", "6.6.3", "6.8.1", "6.8.2", "6.8.3", "6.8.4")},
    **{r: 1 for r in ("7.2.1", "7.2.2", "7.2.3", "7.2.4", "7.4.1", "7.4.2")},
    **{r: 2 for r in ("7.1.1", "7.1.2", "7.1.3", "7.3.1", "7.3.2", "7.4.3", "7.4.4", "7.4.5")},
    **{r: 2 for r in ("7.5.1", "7.5.2", "7.6.1", "7.6.2")},
    **{r: 1 for r in ("8.1.1", "8.2.1", "8.2.2", "8.3.1")},
    **{r: 2 for r in ("8.1.2", "8.2.3", "8.4.1")},
    **{r: 1 for r in ("11.3.1", "11.3.2", "11.4.1")},
    **{r: 2 for r in ("11.1.1", "11.1.2", "11.2.1", "11.2.2", "11.2.3", "11.3.3", "11.4.2")},
    **{r: 2 for r in ("11.4.3", "11.4.4", "11.5.1", "11.6.1")},
    **{r: 1 for r in ("14.2.1", "14.3.1")},
    **{r: 2 for r in ("14.1.1", "14.1.2", "14.2.2", "14.2.3", "14.2.4", "14.3.2", "14.3.3")},
    **{r: 2 for r in ("16.1.1", "16.2.1", "16.2.2", "16.2.3", "16.2.4", "16.2.5", "16.3.1")},
    **{r: 2 for r in ("16.3.2", "16.3.3", "16.3.4", "16.4.1", "16.4.2", "16.4.3", "16.5.1")},
    **{r: 2 for r in ("16.5.2", "16.5.3")},
}
# Where a constant the document names in capitals may live (an environment variable's name is
# found as the value of the constant that holds it).
CONSTANT_MODULES = (
    "nkescape.cli.board",
    "nkescape.board.crypto",
    "nkescape.board.vault",
    "nkescape.board.auth",
    "nkescape.board.model",
    "nkescape.board.privacy",
    "nkescape.board.service",
    "nkescape.web.board.routes",
    "nkescape.web.app",
)
# The parameter id of a fixture whose ``params`` are not literals: its tests cannot be cited
# with a parameter.
UNKNOWN = "<not readable from the source>"
# What a value in the constants table may use besides literals.
VALUE_NAMES: dict[str, Any] = {"timedelta": dt.timedelta}


# --- the test files' syntax trees ----------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """A fixture: the fixtures it asks for, and the ids of its ``params`` (None: has none)."""

    args: tuple[str, ...]
    params: tuple[str, ...] | None


@dataclass(frozen=True)
class Module:
    """What a test module defines at its top level."""

    tests: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]
    fixtures: dict[str, Fixture]
    aliases: dict[str, str] = field(default_factory=dict)  # name -> fixture-module fixture
    dicts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dict literal -> its keys
    sequences: dict[str, tuple[str, ...]] = field(default_factory=dict)  # tuple/list of str
    names: frozenset[str] = frozenset()  # every name assigned at the top level


def _args(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...]:
    return tuple(a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs])


def _is_fixture(decorator: ast.expr) -> ast.Call | bool:
    """The ``pytest.fixture(...)`` call of a decorator, True for a bare one, False otherwise."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if ast.unparse(target) not in ("pytest.fixture", "fixture"):
        return False
    return decorator if isinstance(decorator, ast.Call) else True


def _id(value: Any) -> str:
    """The id pytest gives one parameter value (for the literals the document needs)."""
    if isinstance(value, tuple):
        return "-".join(_id(v) for v in value)
    return str(value)


def _literal_ids(node: ast.expr, module: Module) -> tuple[str, ...] | None:
    """The ids of a parameter list written as a literal, a named tuple/list, or ``list(DICT)``."""
    if isinstance(node, ast.Name):
        return module.sequences.get(node.id)
    if (
        isinstance(node, ast.Call)
        and ast.unparse(node.func) == "list"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
    ):
        return module.dicts.get(node.args[0].id)
    try:
        values = ast.literal_eval(node)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(values, list | tuple):
        return None
    return tuple(_id(v) for v in values)


@cache
def parse_module(stem: str) -> Module | None:
    """The test module ``tests/<stem>.py`` as far as node ids need it (None if there is none)."""
    path = TESTS / f"{stem}.py"
    if not path.is_file():
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    tests: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    fixture_nodes: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.Call | bool]] = {}
    aliases: dict[str, str] = {}
    dicts: dict[str, tuple[str, ...]] = {}
    sequences: dict[str, tuple[str, ...]] = {}
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            marks = [m for m in (_is_fixture(d) for d in node.decorator_list) if m]
            if marks:
                fixture_nodes[node.name] = (node, marks[0])
            elif node.name.startswith("test_"):
                tests[node.name] = node
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if not isinstance(target, ast.Name) or value is None:
                continue
            names.add(target.id)
            if (
                isinstance(value, ast.Attribute)
                and isinstance(value.value, ast.Name)
                and value.value.id == FIXTURE_MODULE
            ):
                aliases[target.id] = value.attr
            elif isinstance(value, ast.Dict):
                keys = [k for k in value.keys if isinstance(k, ast.Constant)]
                dicts[target.id] = tuple(_id(k.value) for k in keys)
            elif isinstance(value, ast.Tuple | ast.List):
                with contextlib.suppress(ValueError):  # not all literals: not parameters
                    sequences[target.id] = tuple(_id(v) for v in ast.literal_eval(value))
    module = Module(tests, {}, aliases, dicts, sequences, frozenset(names))
    fixtures = {}
    for name, (fn, mark) in fixture_nodes.items():
        params = None
        if isinstance(mark, ast.Call):
            for keyword in mark.keywords:
                if keyword.arg == "params":
                    params = _literal_ids(keyword.value, module) or (UNKNOWN,)
        fixtures[name] = Fixture(_args(fn), params)
    return dataclasses.replace(module, fixtures=fixtures)


def _fixture(module: Module, name: str) -> Fixture | None:
    if name in module.fixtures:
        return module.fixtures[name]
    kit = parse_module(FIXTURE_MODULE)
    if name in module.aliases and kit is not None:
        return kit.fixtures.get(module.aliases[name])
    return None


def parameter_ids(module: Module, test: str) -> set[str] | None:
    """Every parameter id pytest gives ``test`` (empty: it takes none; None: cannot tell)."""
    fn = module.tests[test]
    groups: list[tuple[str, ...]] = []
    for decorator in fn.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith(
            "mark.parametrize"
        ):
            ids = next((k.value for k in decorator.keywords if k.arg == "ids"), None)
            values = ids if ids is not None else decorator.args[1]
            found = _literal_ids(values, module)
            if found is None:
                return None
            groups.append(found)
        elif ast.unparse(decorator).endswith(".parametrize()"):
            return None  # generated from a schema (schemathesis): ids are not in the source
    seen: set[str] = set()
    todo = list(_args(fn))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        fixture = _fixture(module, name)
        if fixture is None:
            continue
        if fixture.params is not None:
            if UNKNOWN in fixture.params:
                return None
            groups.append(fixture.params)
        todo.extend(fixture.args)
    if not groups:
        return set()
    # pytest joins one id per parametrization with "-"; its order is not the decorators' order,
    # so every order is accepted (the ids of one test never collide this way in practice).
    return {
        "-".join(combo)
        for order in itertools.permutations(groups)
        for combo in itertools.product(*order)
    }


def node_id_problems(text: str) -> list[str]:
    """What is wrong with the node ids cited in ``text`` (empty: every one exists)."""
    problems = []
    for match in NODE_ID.finditer(text):
        stem, test, parameter = match.groups()
        module = parse_module(stem)
        if module is None:
            problems.append(f"{match.group(0)}: there is no tests/{stem}.py")
        elif test not in module.tests:
            problems.append(f"{match.group(0)}: tests/{stem}.py has no function {test}")
        elif parameter is not None:
            ids = parameter_ids(module, test)
            if ids is None:
                problems.append(f"{match.group(0)}: its parameter ids cannot be read; cite it bare")
            elif parameter not in ids:
                shown = ", ".join(sorted(ids)[:6]) or "none"
                problems.append(f"{match.group(0)}: no parameter [{parameter}] (it has {shown})")
    return problems


# --- the requirement rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One requirement row of the document."""

    requirement: str
    level: str
    status: str
    evidence: str

    @property
    def chapter(self) -> int:
        return int(self.requirement.split(".")[0])


def requirement_rows(text: str) -> list[Row]:
    """Every requirement row of ``text``, in order."""
    rows = []
    for line in text.splitlines():
        match = REQUIREMENT_ROW.match(line)
        if match is None:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        evidence = " | ".join(cells[ROW_CELLS - 1 :]) if len(cells) >= ROW_CELLS else ""
        status = cells[3].strip("*").strip() if len(cells) > 3 else ""
        level = cells[1] if len(cells) > 1 else ""
        rows.append(Row(match.group(1), level, status, evidence))
    return rows


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def row_problems(text: str) -> list[str]:
    """What is wrong with the requirement rows of ``text`` (empty: nothing)."""
    anchors = {_slug(h) for h in HEADING.findall(text)}
    rows = requirement_rows(text)
    problems = []
    seen: set[str] = set()
    for row in rows:
        where = f"v5.0.0-{row.requirement}"
        if row.requirement in seen:
            problems.append(f"{where}: more than one row")
        seen.add(row.requirement)
        if row.status not in STATUSES:
            problems.append(f"{where}: status {row.status!r} is not one of {sorted(STATUSES)}")
            continue
        tests = NODE_ID.findall(row.evidence)
        words = re.findall(r"[A-Za-z]{2,}", NODE_ID.sub("", row.evidence))
        if row.status in NEEDS_A_TEST and not tests:
            problems.append(f"{where}: {row.status!r} but no test is cited")
        if row.status in NEEDS_A_REASON and len(words) < MIN_REASON_WORDS:
            problems.append(f"{where}: {row.status!r} needs a reason in words")
        if row.status in NEEDS_A_SECTION:
            links = SECTION_LINK.findall(row.evidence)
            if not links:
                problems.append(f"{where}: 'documented' but links to no section")
            problems += [f"{where}: no section #{a}" for a in links if a not in anchors]
        if row.chapter in MAPPED_CHAPTERS:
            expected = ASVS_IN_SCOPE.get(row.requirement)
            if expected is None and row.level != str(TOP_LEVEL + 1):
                problems.append(f"{where}: not an ASVS 5.0.0 Level 1-{TOP_LEVEL} requirement")
            elif expected is not None and row.level != str(expected):
                problems.append(f"{where}: level {row.level}, the standard says {expected}")
    missing = sorted(set(ASVS_IN_SCOPE) - seen, key=lambda r: tuple(map(int, r.split("."))))
    problems += [f"v5.0.0-{r}: in scope (Level {ASVS_IN_SCOPE[r]}) but has no row" for r in missing]
    return problems


# --- constants -----------------------------------------------------------------------------------


def _value(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def constant_problems(text: str) -> list[str]:
    """Rows of the constants table whose constant is missing or has another value."""
    problems = []
    for line in text.splitlines():
        match = CONSTANT_ROW.match(line)
        if match is None:
            continue
        module, name, written = match.groups()
        try:
            actual = _value(module, name)
        except (ImportError, AttributeError):
            problems.append(f"{module}.{name}: no such constant")
            continue
        expected = eval(written, {"__builtins__": {}}, VALUE_NAMES)  # the document's own text
        if type(actual) is not type(expected) or actual != expected:
            problems.append(f"{module}.{name} is {actual!r}, the document says {written}")
    return problems


def _test_module_names() -> set[str]:
    names: set[str] = set()
    for path in TESTS.glob("test_*.py"):
        module = parse_module(path.stem)
        if module is not None:
            names |= module.names
    return names


def named_constant_problems(text: str) -> list[str]:
    """Constants named in backticks that exist nowhere in the board's code or tests."""
    problems = []
    in_tests = _test_module_names()
    modules = [importlib.import_module(m) for m in CONSTANT_MODULES]
    values = {v for m in modules for v in vars(m).values() if isinstance(v, str)}
    for name in sorted(set(NAMED_CONSTANT.findall(text))):
        found = name in in_tests or name in values or any(hasattr(m, name) for m in modules)
        if not found:
            problems.append(f"`{name}`: no such constant in {', '.join(CONSTANT_MODULES)}")
    for dotted in sorted(set(DOTTED_NAME.findall(text))):
        module, _, name = dotted.rpartition(".")
        try:
            importlib.import_module(dotted)
        except ImportError:
            try:
                _value(module, name)
            except (ImportError, AttributeError):
                problems.append(f"`{dotted}`: no such module or name")
    return problems


def _report(problems: Iterable[str]) -> str:
    return "docs/security.md:\n  " + "\n  ".join(problems)


# --- the tests -----------------------------------------------------------------------------------


def test_every_cited_test_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len(NODE_ID.findall(text)) > 50  # the pattern finds the document's citations
    problems = node_id_problems(text)
    assert not problems, _report(problems)


def test_every_requirement_in_scope_has_a_row_with_evidence_or_a_reason() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = requirement_rows(text)
    assert len(rows) >= len(ASVS_IN_SCOPE)  # the pattern finds the document's rows
    problems = row_problems(text)
    assert not problems, _report(problems)


def test_every_constant_has_the_value_the_document_gives() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len([line for line in text.splitlines() if CONSTANT_ROW.match(line)]) > 30
    problems = constant_problems(text) + named_constant_problems(text)
    assert not problems, _report(problems)


def test_the_checks_catch_what_drifts() -> None:
    real = "tests/test_board_web.py::test_each_role_at_every_endpoint"
    assert node_id_problems(real) == []
    assert node_id_problems(real + "[sqlite]") == []
    assert node_id_problems(real.replace("each_role", "every_role"))  # a renamed test
    assert node_id_problems(real + "[mysql]")  # a parameter it does not take
    assert node_id_problems("tests/test_board_nothing.py::test_x")  # a missing file
    bare = "tests/test_board_domain.py::test_codes_are_80_random_bits_in_four_groups"
    assert node_id_problems(bare + "[sqlite]")  # takes no parameter
    case = "test_editing_or_deleting_an_audit_row_fails_verify_naming_it"
    assert node_id_problems(f"tests/test_board_vault.py::{case}[postgres-delete every row]") == []
    assert node_id_problems(f"tests/test_board_vault.py::{case}[postgres-delete no row]")

    def table(*rows: str) -> str:
        return "## Logging\n" + "\n".join(rows)

    met = f"| v5.0.0-16.2.2 | 2 | UTC | met | {real} |"
    assert not [p for p in row_problems(table(met)) if "16.2.2" in p]
    for bad in (
        "| v5.0.0-16.2.2 | 2 | UTC | met | shown by reading the code |",  # met needs a test
        "| v5.0.0-16.2.2 | 2 | UTC | not met | no |",  # not met needs a reason
        "| v5.0.0-16.2.2 | 2 | UTC | documented | [Keys](#keys) |",  # no such section
        "| v5.0.0-16.2.2 | 2 | UTC | fine | it is fine by all accounts |",  # no such status
        "| v5.0.0-16.2.2 | 3 | UTC | met | " + real + " |",  # the wrong level
        "| v5.0.0-16.9.9 | 2 | new | met | " + real + " |",  # not a requirement in scope
    ):
        assert [p for p in row_problems(table(met.replace("16.2.2", "16.2.3"), bad)) if "16." in p]
    assert any("16.2.2" in p and "no row" in p for p in row_problems(table()))

    good = "| `nkescape.board.privacy.NOTE_MAX` | `140` | x |"
    assert constant_problems(good) == []
    assert constant_problems(good.replace("140", "141"))
    assert constant_problems(good.replace("140", "140.0"))  # the type counts too
    assert constant_problems(good.replace("NOTE_MAX", "NOTE_MIN"))
    assert named_constant_problems("`MAX_DELAY_S` and `KILL_RUNS`") == []
    assert named_constant_problems("`MAX_DELAY_SECONDS`")
