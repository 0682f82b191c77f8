"""The bundled atlas: it loads, it covers the seed lists, and every documented case fits it."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections import deque
from pathlib import Path

import pytest

from nkescape.atlas import BUNDLED_DIR, Atlas, AtlasError, bundled_atlas, load_atlas, to_geojson

from .test_compiled import check_csr


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


def test_bundled_atlas_has_every_kind(atlas: Atlas) -> None:
    counts = atlas.counts()
    assert all(n > 0 for n in counts.values()), counts


def test_channels_cover_both_seed_lists(atlas: Atlas) -> None:
    covered = {(c.seed, c.item) for ch in atlas.channels.values() for c in ch.covers}
    expected = {("15-ways", i) for i in range(1, 16)} | {
        ("10-dangerous-ways", i) for i in range(1, 11)
    }
    assert expected - covered == set()


def test_every_channel_has_a_profile_and_every_profile_a_channel(atlas: Atlas) -> None:
    assert [c for c in atlas.channels if not atlas.profiles_for(c)] == []
    assert [p for p in atlas.profiles if not atlas.channels_for(p)] == []


def test_every_case_path_exists_in_the_compiled_graph_in_its_year_and_season(
    atlas: Atlas,
) -> None:
    c = atlas.compiled
    for case in atlas.cases.values():
        months = case.months or tuple(range(1, 13))
        for a, b in zip(case.path, case.path[1:], strict=False):
            i, k = c.place_index[a], c.place_index[b]
            hops = [j for j in c.legs_out(i) if c.leg_to[j] == k]
            fitting = [
                j
                for j in hops
                if any(c.usable(case.year, m)[j] for m in months)
                and atlas.leg_allowed(c.leg_ids[j], case.profile)
            ]
            assert fitting, f"case {case.id}: no usable leg {a} -> {b} in {case.year} {months}"


def test_documented_cases_from_the_seeds_are_present(atlas: Atlas) -> None:
    by_year = {(c.year, c.channel) for c in atlas.cases.values()}
    for year in (1953, 1997, 2008, 2009, 2016, 2017):
        assert any(y == year for y, _ in by_year), year
    assert sum(c.people for c in atlas.cases.values() if c.year == 2017) >= 11


def _reachable_safe(atlas: Atlas, start: str, profile: str) -> bool:
    """Breadth-first search over legs the profile may take, ignoring time, to a safe country."""
    seen, queue = {start}, deque([start])
    while queue:
        place = queue.popleft()
        if place != start and atlas.is_safe(atlas.places[place].country, dt.date(2019, 6, 1)):
            return True
        for leg in atlas.legs_from(place):
            if leg.to not in seen and atlas.leg_allowed(leg.id, profile):
                seen.add(leg.to)
                queue.append(leg.to)
    return False


def test_every_profile_start_has_a_way_to_safety(atlas: Atlas) -> None:
    missing = [
        (p.id, s)
        for p in atlas.profiles.values()
        for s in p.starts
        if not _reachable_safe(atlas, s, p.id)
    ]
    assert missing == []


def test_thailand_is_safe_and_china_is_not(atlas: Atlas) -> None:
    day = dt.date(2017, 6, 1)
    assert atlas.is_safe("TH", day) and atlas.is_safe("MN", dt.date(2008, 6, 1))
    assert not atlas.is_safe("CN", day) and not atlas.is_safe("RU", day)


def test_policies_change_on_their_day(atlas: Atlas) -> None:
    # Laos deported nine young people it had detained on 10 May 2013 (nkhr-2013-laos-nine).
    assert atlas.policy_for("LA", dt.date(2013, 5, 9)).id == "laos-1990"  # type: ignore[union-attr]
    assert atlas.policy_for("LA", dt.date(2013, 5, 10)).id == "laos-2013"  # type: ignore[union-attr]
    # North Korea's shoot-to-kill orders hold from the buffer-zone event's date.
    event = atlas.events["buffer-zone-shoot-to-kill"]
    before = event.date - dt.timedelta(days=1)
    assert atlas.policy_for("KP", before).id == "north-korea-1953"  # type: ignore[union-attr]
    assert atlas.policy_for("KP", event.date).id == "north-korea-2020"  # type: ignore[union-attr]
    # China hands people back again from North Korea's reopening.
    reopening = atlas.events["limited-reopening"].date
    assert atlas.policy_for("CN", reopening).id == "china-2023"  # type: ignore[union-attr]
    assert atlas.policy_for("CN", reopening - dt.timedelta(days=1)).id == "china-2020"  # type: ignore[union-attr]


def test_compiled_csr_matches(atlas: Atlas) -> None:
    check_csr(atlas)


def test_geojson_has_every_place_and_leg(atlas: Atlas) -> None:
    features = to_geojson(atlas)["features"]
    assert len(features) == len(atlas.places) + len(atlas.legs)
    for f in features:
        for lon, lat in (
            f["geometry"]["coordinates"]
            if f["geometry"]["type"] == "LineString"
            else [f["geometry"]["coordinates"]]
        ):
            assert -180 <= lon <= 180 and -90 <= lat <= 90


def _plant(path: Path, pattern: str, replacement: str) -> int:
    """Replace the first line matching ``pattern``; return its 1-based line number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if re.search(pattern, line):
            lines[n] = re.sub(pattern, replacement, line, count=1)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return n + 1
    raise AssertionError(f"{pattern!r} not found in {path}")


def test_a_broken_copy_reports_each_planted_error(tmp_path: Path) -> None:
    copy = tmp_path / "atlas"
    shutil.copytree(BUNDLED_DIR, copy)
    legs = sorted((copy / "legs").glob("*.yaml"))[0]
    places = copy / "places.yaml"
    planted = {
        "to": (legs, _plant(legs, r"^(\s+)to: \S+", r"\1to: atlantis")),
        "mode": (legs, _plant(legs, r"^(\s+)mode: \S+", r"\1mode: teleport")),
        "country": (places, _plant(places, r"^(\s+)country: \S+", r"\1country: XX")),
        "lat": (places, _plant(places, r"^(\s+)lat: \S+", r"\1lat: 123")),
    }
    (copy / "zz-planted.yaml").write_text(
        "sources:\n  - id: planted\n    title: t\n    publisher: p\n    kind: press\n"
        "    year: 20015\n",
        "utf-8",
    )
    planted["year"] = (copy / "zz-planted.yaml", 6)
    with pytest.raises(AtlasError) as info:
        load_atlas(copy)
    messages = [str(p) for p in info.value.problems]
    for field, (path, line) in planted.items():
        where = f"{path.relative_to(tmp_path)}:{line}: {field}:"
        assert any(where in m for m in messages), (where, messages)
