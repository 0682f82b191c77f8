"""The command line: exit codes, one-line errors, and the shape of each output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from nkescape.cli import app

from .conftest import write_atlas

runner = CliRunner()


def test_check_on_a_valid_atlas_prints_counts(tmp_path: Path, toy: dict[str, Any]) -> None:
    root = write_atlas(tmp_path / "a", toy)
    result = runner.invoke(app, ["atlas", "check", str(root)])
    assert result.exit_code == 0, result.output
    assert "atlas OK: 5 places, 6 legs, 1 channels" in result.output


def test_check_lists_every_problem_and_exits_1(tmp_path: Path, toy: dict[str, Any]) -> None:
    toy["legs"][0]["to"] = "nowhere"
    toy["places"][0]["lat"] = 200
    root = write_atlas(tmp_path / "a", toy)
    result = runner.invoke(app, ["atlas", "check", str(root)])
    assert result.exit_code == 1
    assert "legs.yaml:" in result.output and "to: unknown place 'nowhere'" in result.output
    assert "places.yaml:" in result.output and "lat: got 200" in result.output
    assert "the atlas has 2 problems" in result.output
    assert "Traceback" not in result.output


def test_show_json_has_a_list_per_kind(tmp_path: Path, toy: dict[str, Any]) -> None:
    root = write_atlas(tmp_path / "a", toy)
    result = runner.invoke(app, ["atlas", "show", str(root), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data.pop("format") == 1
    assert set(data) == {
        "places",
        "legs",
        "channels",
        "profiles",
        "policies",
        "actors",
        "events",
        "cases",
        "sources",
    }
    assert {leg["id"] for leg in data["legs"]} == {leg["id"] for leg in toy["legs"]}
    assert data["legs"][0]["from"] == "home"


def test_show_tables(tmp_path: Path, toy: dict[str, Any]) -> None:
    root = write_atlas(tmp_path / "a", toy)
    result = runner.invoke(app, ["atlas", "show", str(root), "--kind", "legs"])
    assert result.exit_code == 0
    assert "river-ice" in result.output and "12,1,2" in result.output
    assert "places" not in result.output.split("legs", 1)[0]


def test_export_geojson(tmp_path: Path, toy: dict[str, Any]) -> None:
    root = write_atlas(tmp_path / "a", toy)
    out = tmp_path / "map.geojson"
    result = runner.invoke(
        app, ["atlas", "export", str(root), "--format", "geojson", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    kinds = [f["geometry"]["type"] for f in data["features"]]
    assert kinds.count("Point") == 5 and kinds.count("LineString") == 6
    line = next(f for f in data["features"] if f["id"] == "leg/city-haven-bus")
    assert len(line["geometry"]["coordinates"]) > 2  # long legs follow the geodesic
    assert line["geometry"]["coordinates"][0] == [123.4, 41.8]


def test_overlay_from_environment(tmp_path: Path, toy: dict[str, Any]) -> None:
    base = write_atlas(tmp_path / "a", toy)
    overlay = write_atlas(tmp_path / "o", {"places": [dict(toy["places"][0], name="Home town")]})
    result = runner.invoke(
        app, ["atlas", "check", str(base)], env={"NKESCAPE_OVERLAY": str(overlay)}
    )
    assert result.exit_code == 0, result.output
    assert "override: places home from" in result.stderr  # a note, not a result


def test_usage_error_exits_2_with_one_line() -> None:
    result = runner.invoke(app, ["atlas", "export", "--format", "kml"])
    assert result.exit_code == 2
    assert result.stderr == (
        "nkescape: Invalid value for '--format': 'kml' is not one of 'geojson'. "
        "(see nkescape atlas export --help)\n"
    )


def test_installed_command_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("nkescape")
    env = {k: v for k, v in os.environ.items() if k != "NKESCAPE_DEBUG"}
    proc = subprocess.run(
        [str(exe), "atlas", "check", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "not a directory" in proc.stderr
