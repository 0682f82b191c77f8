"""The README's examples run: its Python blocks, its command lines, and examples/overlay.

A Python block runs top to bottom; where a line is an expression followed by a comment that is a
Python literal (``atlas.legs["tumen-ice-walk"].months  # (12, 1, 2, 3)``), the expression must equal
that literal. Other comments are prose. Every ``./scripts/nk ...`` line of a bash block must parse
with the real command line: each subcommand exists, each option exists and takes its value, and no
required option is missing; nothing is run.
"""

from __future__ import annotations

import ast
import io
import json
import re
import shlex
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main
from typer.testing import CliRunner

from nkescape.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OVERLAY = ROOT / "examples" / "overlay"

# Examples the README gets wrong today, by the exact README line, with what is wrong. They are
# expected to fail (strictly: one that starts passing fails the run, so that its entry goes); once
# the README is corrected, its line no longer matches and the entry must go too
# (test_known_wrong_is_current).
KNOWN_WRONG: dict[str, str] = {}

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_blocks(language: str) -> list[tuple[int, str]]:
    """The README's fenced blocks in ``language``: (line number of the first line, text)."""
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start(2)) + 1, m.group(2))
        for m in _FENCE.finditer(text)
        if m.group(1) == language
    ]


@dataclass(frozen=True)
class Check:
    """One expression of a Python block and the value its comment shows."""

    block: int  # index among the Python blocks
    line: int  # README line number
    source: str  # the README line as written
    expected: Any


def python_checks() -> list[Check]:
    checks = []
    for index, (first, code) in enumerate(readme_blocks("python")):
        comments = {
            tok.start[0]: tok.string[1:].strip()
            for tok in tokenize.generate_tokens(io.StringIO(code).readline)
            if tok.type == tokenize.COMMENT
        }
        lines = code.splitlines()
        for node in ast.parse(code).body:
            comment = comments.get(node.end_lineno or node.lineno)
            if not isinstance(node, ast.Expr) or comment is None:
                continue
            try:
                expected = ast.literal_eval(comment)
            except (ValueError, SyntaxError):
                continue  # a comment in words
            source = lines[node.lineno - 1]
            checks.append(Check(index, first + node.lineno - 1, source, expected))
    return checks


_results: dict[int, dict[int, Any]] = {}


def run_block(index: int) -> dict[int, Any]:
    """Run Python block ``index`` once; the value of each top-level expression, by its line."""
    if index not in _results:
        _, code = readme_blocks("python")[index]
        namespace: dict[str, Any] = {"__name__": "readme"}
        values: dict[int, Any] = {}
        for node in ast.parse(code).body:
            if isinstance(node, ast.Expr):
                expr = compile(ast.Expression(node.value), "README.md", "eval")
                values[node.lineno] = eval(expr, namespace)
            else:
                exec(compile(ast.Module([node], []), "README.md", "exec"), namespace)
        _results[index] = values
    return _results[index]


def _param(check: Check) -> Any:
    marks = []
    if check.source in KNOWN_WRONG:
        marks.append(pytest.mark.xfail(reason=KNOWN_WRONG[check.source], strict=True))
    return pytest.param(check, marks=marks, id=f"README.md:{check.line}")


def test_readme_has_python_examples() -> None:
    assert readme_blocks("python"), "README.md has no ```python block"
    assert python_checks(), "README.md's Python blocks show no value to check"


@pytest.mark.parametrize("check", [_param(c) for c in python_checks()])
def test_python_example_shows_the_real_value(check: Check) -> None:
    first, _ = readme_blocks("python")[check.block]
    actual = run_block(check.block)[check.line - first + 1]
    assert actual == check.expected, f"README.md:{check.line}: {check.source.strip()} is {actual!r}"


def test_every_python_block_runs() -> None:
    for index, (first, _) in enumerate(readme_blocks("python")):
        try:
            run_block(index)
        except Exception as exc:
            pytest.fail(f"the Python block at README.md:{first} fails: {type(exc).__name__}: {exc}")


def test_known_wrong_is_current() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    stale = [line for line in KNOWN_WRONG if line not in lines]
    assert not stale, f"no longer in README.md, remove from KNOWN_WRONG: {stale}"


def command_lines() -> list[tuple[int, list[str], dict[str, str]]]:
    """Each ``./scripts/...`` line of the README's bash blocks: (README line, words, and the
    variables an ``export`` line above it in the block set, as bash would have them)."""
    found = []
    for first, code in readme_blocks("bash"):
        env: dict[str, str] = {}
        for offset, line in enumerate(code.splitlines()):
            words = shlex.split(line, comments=True)
            if words[:1] == ["export"]:
                env.update(w.split("=", 1) for w in words[1:] if "=" in w)
            if words and words[0].startswith("./scripts/"):
                found.append((first + offset, words, dict(env)))
    return found


def parse_nk(args: list[str]) -> typer.Context:
    """Parse ``nkescape ARGS`` as the command would, without running it.

    Raises AssertionError for a missing or unknown subcommand and the command's own usage error
    (a ``typer.TyperException``) for an unknown option, a bad value or a missing required one.
    """
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="nkescape")
    args = list(args)
    while isinstance(command, typer.core.TyperGroup):
        assert args and not args[0].startswith("-"), f"{ctx.command_path}: no subcommand"
        name = args.pop(0)
        sub = command.get_command(ctx, name)
        assert sub is not None, f"{ctx.command_path} has no subcommand {name!r}"
        command = sub
        if isinstance(command, typer.core.TyperGroup):
            ctx = typer.Context(command, info_name=name, parent=ctx)
    # Parses every option and argument and converts its value; nothing is invoked.
    return command.make_context(name, args, parent=ctx)


def test_readme_has_command_lines() -> None:
    assert any(words[0] == "./scripts/nk" for _, words, _ in command_lines())


@pytest.mark.parametrize(
    ("line", "words", "env"),
    [pytest.param(n, w, e, id=f"README.md:{n}") for n, w, e in command_lines()],
)
def test_command_line_parses(
    line: int, words: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    script = ROOT / words[0]
    assert script.is_file(), f"README.md:{line}: {words[0]} does not exist"
    if words[0] != "./scripts/nk":
        return
    try:
        parse_nk(words[1:])
    except typer.TyperException as exc:
        pytest.fail(f"README.md:{line}: {shlex.join(words)}: {exc.format_message()}")


def test_parse_nk_rejects_what_the_command_rejects() -> None:
    # The check above must be able to fail: a wrong subcommand, option or value is caught.
    with pytest.raises(AssertionError, match="no subcommand 'plna'"):
        parse_nk(["plna", "--from", "hyesan"])
    with pytest.raises(typer.TyperException, match="No such option: --mnth"):
        parse_nk(["plan", "--from", "hyesan", "--mnth", "1"])
    with pytest.raises(typer.BadParameter, match="valid integer"):
        parse_nk(["plan", "--from", "hyesan", "--month", "January"])


runner = CliRunner()


def test_example_overlay_passes_the_check_and_replaces_and_adds() -> None:
    result = runner.invoke(app, ["atlas", "check", "--overlay", str(OVERLAY)])
    assert result.exit_code == 0, result.output
    assert "override: legs changbai-yanji-car from" in result.output
    assert "atlas OK:" in result.output


def _plan_json(*overlay: str) -> dict[str, Any]:
    args = ["plan", "--from", "hyesan", "--month", "8", "--json"]
    result = runner.invoke(app, [*args, *overlay])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)  # warnings go to stderr
    return out


def _legs(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [leg for it in plan["itineraries"] for leg in it["legs"] if leg["kind"] == "leg"]


def test_plan_uses_the_example_overlay() -> None:
    bundled, overlaid = _plan_json(), _plan_json("--overlay", str(OVERLAY))
    # The added place and legs carry itineraries, which the bundled atlas cannot have.
    assert not any(leg["to"] == "tonghua" for leg in _legs(bundled))
    assert any(leg["leg"] == "changbai-tonghua-car" for leg in _legs(overlaid))
    # The replaced leg is the overlay's, with its own source, in every itinerary that takes it.
    replaced = [leg for leg in _legs(overlaid) if leg["leg"] == "changbai-yanji-car"]
    assert replaced and all(leg["sources"] == ["example-ngo-field-notes"] for leg in replaced)
    assert all(
        "example-ngo-field-notes" not in leg["sources"]
        for leg in _legs(bundled)
        if leg["leg"] == "changbai-yanji-car"
    )
