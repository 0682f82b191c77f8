"""What ships: the lock files cover pyproject's requirements, and the metadata files agree.

The locks (requirements/*.lock, written by ./scripts/lock) are what scripts/test, scripts/nk and CI
install; pyproject.toml keeps the lower bounds. These tests fail when a requirement is added to
pyproject.toml without regenerating the locks, or a pin falls below a declared bound.
"""

from __future__ import annotations

import os
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT: dict[str, Any] = PYPROJECT["project"]
LOCKS = {
    "run": ROOT / "requirements" / "run.lock",
    "dev": ROOT / "requirements" / "dev.lock",
}


def read_lock(path: Path) -> dict[str, tuple[Version, Requirement]]:
    """The pins of a lock file (pip's requirements format with hashes), by canonical name."""
    pins: dict[str, tuple[Version, Requirement]] = {}
    # A requirement runs on over lines ending in a backslash; comments and hashes are not pins.
    logical = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for raw in logical.splitlines():
        line = raw.split(" --hash", 1)[0].split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # every line of a lock is one exact pin
        assert spec.operator == "==", f"{path.name}: {line!r} is not pinned with =="
        name = canonicalize_name(req.name)
        assert name not in pins, f"{path.name}: {req.name} is pinned twice"
        pins[name] = (Version(spec.version), req)
    return pins


def required(*, dev: bool) -> list[Requirement]:
    """pyproject's requirements that a lock must pin: build backend, dependencies, dev extra."""
    lines = [*PYPROJECT["build-system"]["requires"], *PROJECT["dependencies"]]
    if dev:
        lines += PROJECT["optional-dependencies"]["dev"]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_lock_pins_every_requirement_within_its_bounds(kind: str) -> None:
    pins = read_lock(LOCKS[kind])
    problems = []
    for req in required(dev=kind == "dev"):
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req.name} is not in {LOCKS[kind].name}")
        elif not req.specifier.contains(pin[0], prereleases=True):
            problems.append(f"{req.name}=={pin[0]} does not satisfy {req}")
    assert not problems, "; ".join(problems) + " (run ./scripts/lock)"


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_lock_has_hashes_and_says_how_to_regenerate_it(kind: str) -> None:
    text = LOCKS[kind].read_text(encoding="utf-8")
    assert "./scripts/lock" in text.splitlines()[1]
    # Every pin carries a hash, so pip installs it in hash-checking mode.
    assert text.count("==") <= text.count("--hash=sha256:")
    assert (ROOT / "scripts" / "lock").stat().st_mode & 0o111


def test_run_lock_agrees_with_dev_lock() -> None:
    run, dev = read_lock(LOCKS["run"]), read_lock(LOCKS["dev"])
    differ = {n: (str(v), str(dev[n][0])) for n, (v, _) in run.items() if dev.get(n, (v,))[0] != v}
    assert not differ, f"run.lock and dev.lock pin different versions: {differ}"
    assert set(run) <= set(dev)


def test_this_environment_is_the_locked_one() -> None:
    # scripts/test installs dev.lock; a version that differs here means the lock was not installed.
    from importlib.metadata import PackageNotFoundError, version

    env = default_environment()
    wrong = []
    for name, (pinned, req) in read_lock(LOCKS["dev"]).items():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong.append(f"{name} {installed} (lock: {pinned})")
    if wrong and not os.environ.get("CI"):
        pytest.xfail(
            "this environment was not installed from requirements/dev.lock (./scripts/test does): "
            + ", ".join(wrong)
        )
    assert not wrong, f"CI did not install requirements/dev.lock: {wrong}"


def test_citation_agrees_with_pyproject() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == PROJECT["version"]
    assert cff["license"] == PROJECT["license"]
    assert cff["title"].startswith(PROJECT["name"])
    assert cff["authors"]


def test_license_is_the_apache_license() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_classifiers_are_known_and_match_requires_python() -> None:
    trove = pytest.importorskip("trove_classifiers", reason="installed with hatchling (dev.lock)")
    classifiers = PROJECT["classifiers"]
    unknown = [c for c in classifiers if c not in trove.classifiers]
    assert not unknown, f"not trove classifiers: {unknown}"
    assert "Typing :: Typed" in classifiers
    # PEP 639: the SPDX license expression replaces License :: classifiers.
    assert not [c for c in classifiers if c.startswith("License ::")]
    versions = [c.rsplit(" ", 1)[1] for c in classifiers if c.count("::") == 2 and "3." in c]
    floor = Requirement(f"python{PROJECT['requires-python']}").specifier
    assert versions and all(floor.contains(v) for v in versions)
    assert min(versions, key=Version) == str(floor).removeprefix(">=")


def test_wheel_ships_the_data_and_the_typing_marker(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="the build backend, installed from dev.lock")
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = f"nkescape-{PROJECT['version']}.dist-info"
    data = ROOT / "src" / "nkescape"
    shipped = {
        "nkescape/py.typed",
        "nkescape/flows/data/parameters.yaml",
        "nkescape/flows/data/arrivals_by_year.csv",
        *(p.relative_to(data.parent).as_posix() for p in (data / "atlas" / "data").rglob("*.yaml")),
        f"{dist_info}/licenses/LICENSE",
        f"{dist_info}/entry_points.txt",
    }
    missing = sorted(shipped - names)
    assert not missing, f"the wheel lacks {missing}"
    assert not [n for n in names if n.startswith(("tests/", "examples/", "requirements/"))]
