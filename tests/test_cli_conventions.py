"""The command line's conventions (issue 14): one error style, exit codes, streams, help, width.

Exit 2 for usage errors and 1 for bad input or no result, each one line ``nkescape: ...`` on
stderr; results alone on stdout; every file written announced on stderr; runs never silently
over earlier ones; ``--help`` without the heavy libraries; the plan readable at 100 columns.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nkescape import __version__
from nkescape.atlas.schema import SHOW_ORDER
from nkescape.cli import COMMANDS, app, load_command
from nkescape.cli._common import EXIT_CODES, run_folder
from nkescape.cli.atlas import Kind
from nkescape.cli.plan import FundingChoice
from nkescape.cli.simulate import BackendChoice, DeviceChoice
from nkescape.routing.query import FUNDING
from nkescape.simulate import BACKENDS, DEVICES

from .conftest import write_atlas

runner = CliRunner()
EXE = Path(sys.executable).with_name("nkescape")
# Libraries that --help must not load (the brief: plotting, optimisation, the flow model's
# engines, the compiled and GPU kernels).
HEAVY = (
    "matplotlib",
    "scipy.optimize",
    "dask",
    "emcee",
    "numba",
    "jax",
    "sqlalchemy",
    "sqlcipher3",
    "argon2",
    "psycopg",
)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it (so that ``main()``'s guard is in play)."""
    base = {k: v for k, v in os.environ.items() if k not in ("NKESCAPE_DEBUG", "NKESCAPE_PROG")}
    return subprocess.run(
        [str(EXE), *args],
        capture_output=True,
        text=True,
        env=base | (env or {}),
        check=False,
        timeout=300,
    )


# --- version, help --------------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"nkescape {__version__}\n"


def test_help_documents_the_exit_codes_and_shows_no_bool_after_flags() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    flat = " ".join(result.stdout.split())
    assert " ".join(EXIT_CODES.split()) in flat
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", result.stdout, re.M), name
    for args in (["plan"], ["simulate"], ["options"], ["atlas", "show"], ["atlas", "check"]):
        sub = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "100"})
        assert sub.exit_code == 0, sub.output
        assert "<bool>" not in sub.stdout, args
        assert "--json" in sub.stdout or "--overlay" in sub.stdout
        assert "╭" not in sub.stdout  # plain help, no boxes


@pytest.mark.parametrize(
    ("args", "choices"),
    [
        (["plan"], FUNDING),
        (["options"], FUNDING),
        (["simulate"], (*FUNDING, *DEVICES, *BACKENDS)),
        (["atlas", "export"], ("geojson",)),
    ],
)
def test_choices_are_listed_in_help(args: list[str], choices: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for choice in choices:
        assert choice in text, choice


def test_choices_come_from_the_library_vocabularies() -> None:
    assert [m.value for m in FundingChoice] == list(FUNDING)
    assert [m.value for m in DeviceChoice] == list(DEVICES)
    assert [m.value for m in BackendChoice] == list(BACKENDS)
    assert [m.value for m in Kind] == list(SHOW_ORDER)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_top_level_listing_matches_each_commands_own_help(name: str) -> None:
    command = load_command(name)
    first = (command.help or "").split("\n\n")[0]
    assert " ".join(first.split()) == COMMANDS[name][2]


def _modules_after_help(args: list[str]) -> list[str]:
    code = (
        "import sys\n"
        "from nkescape.cli import main\n"
        f"sys.argv = ['nkescape', *{args!r}, '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return proc.stderr.split()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["atlas"],
        ["atlas", "show"],
        ["plan"],
        ["simulate"],
        ["flows"],
        ["flows", "fit"],
        ["board"],
        ["board", "checkin"],
    ],
)
def test_help_loads_no_heavy_library(args: list[str]) -> None:
    assert _modules_after_help(args) == []


def test_the_top_level_help_imports_no_subcommand() -> None:
    code = (
        "import sys\nfrom nkescape.cli import main\nsys.argv = ['nkescape', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in sys.modules if m.startswith('nkescape.')), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert set(proc.stderr.split()) <= {"nkescape.cli", "nkescape.cli._common"}


# --- errors and exit codes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["atlas", "show", "--kind", "leggs"],
        ["atlas", "export", "--format", "kml"],
        ["plan", "--funding", "bank"],
        ["plan", "--date", "2017-13-01"],
        ["plan", "--month", "13"],
        ["plan", "--bogus"],
        ["plna"],
        ["atlas", "shw"],
        ["simulate", "--device", "tpu"],
        ["simulate", "--device", "auto"],
        ["simulate", "--backend", "fortran"],
        ["simulate", "--backend", "python"],
        ["simulate", "--scheduler", "localhost:8786"],
        ["simulate", "--runs", "many"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    err = lines(result.stderr)
    assert len(err) == 1, result.stderr
    assert err[0].startswith("nkescape: ") and err[0].endswith("--help)"), err[0]
    assert "╭" not in result.stderr and "Usage:" not in result.stderr


def test_usage_error_hint_names_the_command_as_run() -> None:
    proc = run("atlas", "show", "--kind", "leggs", env={"NKESCAPE_PROG": "./scripts/nk"})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "'leggs' is not one of 'places', 'legs'" in proc.stderr
    assert proc.stderr.rstrip().endswith("(see ./scripts/nk atlas show --help)")


def test_bad_input_is_one_line_and_exits_1_from_the_installed_command() -> None:
    proc = run("plan", "--from", "hyesna", "--month", "1")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert lines(proc.stderr) == [
        "nkescape: unknown origin place 'hyesna' (did you mean 'hyesan'?)"
    ]


def test_a_group_without_its_command_prints_its_help_and_exits_2() -> None:
    result = runner.invoke(app, ["atlas"])
    assert result.exit_code == 2
    assert "check" in result.stdout and "export" in result.stdout


def test_json_with_simulate_is_refused_as_usage() -> None:
    result = runner.invoke(app, ["plan", "--from", "hyesan", "--json", "--simulate", "10"])
    assert result.exit_code == 2
    assert len(lines(result.stderr)) == 1 and "simulate --json" in result.stderr


# Dates the CLI accepts must never reach main()'s last-resort guard.
EDGE_DATES = ["9999-12-31", "0001-01-01", "1900-01-01", "2100-12-31"]


@pytest.mark.parametrize("date", EDGE_DATES)
def test_plan_on_any_accepted_date_is_a_result_or_one_line(date: str) -> None:
    proc = run("plan", "--from", "hyesan", "--date", date, "--json")
    assert "internal error" not in proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    if proc.returncode == 1:
        assert len(lines(proc.stderr)) == 1 and proc.stderr.startswith("nkescape: ")
    else:
        json.loads(proc.stdout)


# Years the atlas does not cover (it covers 1900-2100).
OUTSIDE = ["9999-12-31", "0001-01-01", "1899-12-31"]


@pytest.mark.parametrize("date", OUTSIDE)
def test_plan_outside_the_atlas_years_names_the_range(date: str) -> None:
    result = runner.invoke(app, ["plan", "--from", "hyesan", "--date", date])
    assert result.exit_code == 1
    err = lines(result.stderr)
    assert len(err) == 1 and re.search(r"\b(19|20)\d\d\b", err[0]), err


@pytest.mark.parametrize("date", OUTSIDE[:2])
def test_simulate_outside_the_atlas_years_names_the_range(date: str, tmp_path: Path) -> None:
    proc = run(
        "simulate", "--from", "hyesan", "--date", date, "--runs", "100",
        "--out", str(tmp_path / "s"),
    )  # fmt: skip
    assert "internal error" not in proc.stderr
    assert proc.returncode == 1
    err = lines(proc.stderr)
    assert len(err) == 1 and re.search(r"\b(19|20)\d\d\b", err[0]), err
    assert not (tmp_path / "s").exists()  # nothing written for a run that never started


# --- the plan at 100 columns ----------------------------------------------------------------


def _plan(*extra: str, env: dict[str, Any] | None = None) -> Any:
    result = runner.invoke(app, ["plan", "--from", "hyesan", "--month", "1", *extra], env=env)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("detail", [[], ["--detail", "2"]])
@pytest.mark.parametrize("columns", ["100", None])  # None: a pipe, which gets 100 columns
def test_the_plan_fits_100_columns_one_line_per_itinerary(
    detail: list[str], columns: str | None
) -> None:
    result = _plan(*detail, env={"COLUMNS": columns})
    out = result.stdout.splitlines()
    assert max(len(line) for line in out) <= 100
    count = len(json.loads(_plan("--json").stdout)["itineraries"])
    rows = [line for line in out if re.match(r"^\s*\d+\s+\d+\.\d%\s", line)]
    assert [int(r.split()[0]) for r in rows] == list(range(1, count + 1))
    assert "P(safety )" not in result.stdout and "P(safe)" in result.stdout


def test_legs_only_on_request() -> None:
    plain = _plan().stdout
    assert "Itinerary 1, leg by leg" not in plain and "--detail 1" in plain
    one = _plan("--detail", "1").stdout
    assert "Itinerary 1, leg by leg" in one and "Itinerary 2," not in one
    assert "if caught:" in one and "sources:" in one


def test_the_footnote_says_what_each_figure_means() -> None:
    out = " ".join(_plan(env={"COLUMNS": "100"}).stdout.split())
    for label in ("P(safe):", "P(Seoul):", "days:", "US$:", "E[US$]:", "route:"):
        assert label in out, label


def test_messages_name_the_command_as_run() -> None:
    out = _plan(env={"NKESCAPE_PROG": "./scripts/nk"}).stdout
    assert "`./scripts/nk simulate`" in " ".join(out.split())


# --- files written, run folders, streams ----------------------------------------------------


def test_geojson_is_announced_and_json_stays_alone_on_stdout(tmp_path: Path) -> None:
    out = tmp_path / "plan.geojson"
    result = _plan("--json", "--geojson", str(out))
    json.loads(result.stdout)
    assert f"nkescape: wrote {out}" in result.stderr
    assert json.loads(out.read_text())["features"]


def test_export_is_announced(tmp_path: Path, toy: dict[str, Any]) -> None:
    root = write_atlas(tmp_path / "a", toy)
    out = tmp_path / "atlas.geojson"
    result = runner.invoke(app, ["atlas", "export", str(root), "-o", str(out)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert lines(result.stderr) == [f"nkescape: wrote {out} (5 places, 6 legs)"]


def test_overlay_notes_and_warnings_go_to_stderr(tmp_path: Path, toy: dict[str, Any]) -> None:
    base = write_atlas(tmp_path / "a", toy)
    (tmp_path / "repo" / ".git").mkdir(parents=True)  # the overlay sits in a git work tree
    overlay = write_atlas(
        tmp_path / "repo" / "o", {"places": [dict(toy["places"][0], name="Home town")]}
    )
    result = runner.invoke(app, ["atlas", "check", str(base), "--overlay", str(overlay)])
    assert result.exit_code == 0, result.output
    assert "override: places home" in result.stderr and "override" not in result.stdout
    assert "nkescape: warning: overlay" in result.stderr and "git" in result.stderr
    assert "warning:" not in result.stdout
    assert "atlas OK" in result.stdout


SIM = ["simulate", "--from", "hyesan", "--date", "2017-09-01", "--runs", "2000", "--seed", "4"]


def test_simulate_refuses_an_out_folder_holding_a_run_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    first = runner.invoke(app, [*SIM, "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)  # stdout holds only the JSON
    assert json.loads((out / "summary.json").read_text()) == data
    written = lines(first.stderr)
    assert len(written) == 1 and written[0].startswith(f"nkescape: wrote {out / 'summary.json'}")
    assert str(out / "funnel.png") in written[0]
    again = runner.invoke(app, [*SIM, "--out", str(out)])
    assert again.exit_code == 1
    assert len(lines(again.stderr)) == 1 and "--force" in again.stderr
    forced = runner.invoke(app, [*SIM, "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "p_reach_safety" in forced.stdout and "wrote" not in forced.stdout


def test_the_default_folder_gives_way_to_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        result = runner.invoke(app, [*SIM, "--json"])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "out/simulate/summary.json").exists()
    assert (tmp_path / "out/simulate-2/summary.json").exists()
    assert "out/simulate-2/summary.json" in result.stderr


def test_run_folder_rules(tmp_path: Path) -> None:
    default = tmp_path / "out" / "simulate"
    assert run_folder(None, default, force=False, marker="summary.json") == default
    default.mkdir(parents=True)
    (default / "summary.json").write_text("{}")
    assert run_folder(None, default, force=False, marker="summary.json").name == "simulate-2"
    assert run_folder(None, default, force=True, marker="summary.json") == default
    assert run_folder(default, default, force=True, marker="summary.json") == default
    with pytest.raises(Exception) as caught:  # typer.Exit(1), after one line on stderr
        run_folder(default, default, force=False, marker="summary.json")
    assert getattr(caught.value, "exit_code", None) == 1


def test_simulate_warnings_go_to_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    import nkescape.simulate as sim

    real = sim.simulate

    def warning_simulate(*args: Any, **kwargs: Any) -> Any:
        warnings.warn("a warning from the library", stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(sim, "simulate", warning_simulate)
    result = runner.invoke(app, [*SIM, "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    assert "nkescape: warning: a warning from the library" in result.stderr


def test_simulate_on_a_gpu_that_is_not_there_is_one_line_not_the_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nkescape.backends.gpu_visible", lambda: False)
    result = runner.invoke(app, [*SIM, "--device", "gpu", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert lines(result.stderr) == [
        "nkescape: no GPU visible to JAX (install a CUDA build of jax, check the driver with "
        "nvidia-smi, or use device cpu)"
    ]
    assert not (tmp_path / "o").exists()
    refused = runner.invoke(app, [*SIM, "--device", "gpu", "--backend", "numba"])
    assert refused.exit_code == 1
    assert "the numba kernel runs on the CPU" in refused.stderr
