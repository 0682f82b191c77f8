"""Loading: every problem reported at once, located to file, line and field; overlays."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

import pytest

from nkescape.atlas import AtlasError, atlas_from_data, load_atlas

from .conftest import write_atlas


def problems_of(*dirs: Path, overlays: tuple[Path, ...] = ()) -> list[str]:
    with pytest.raises(AtlasError) as info:
        load_atlas(*dirs, overlays=overlays)
    return [str(p) for p in info.value.problems]


def test_toy_atlas_round_trips_through_files(tmp_path: Path, toy: dict[str, Any]) -> None:
    atlas = load_atlas(write_atlas(tmp_path / "a", toy))
    assert atlas.counts()["legs"] == len(toy["legs"])
    assert atlas.origin("legs", "river-wade").file.endswith("legs.yaml")


PLANTED = textwrap.dedent(
    """\
    legs:
      - id: bad-leg
        name: Broken on purpose
        from: home
        to: hom
        mode: wade
        operator: broker
        duration_days: {value: -2, source: toy-judgement, note: x}
        cost_usd: {value: .nan, source: toy-judgement, note: x}
        p_intercept: {value: 1.5, source: toy-judgement, note: x}
        detour_factor: {value: 1}
        months: [1, 13]
        source: toy-judgement
    places:
      - id: nowhere
        name: Nowhere
        country: XX
        kind: origin-town
        lat: 95
        lon: 0
        source: no-such-source
      - id: home
        name: Duplicate of home
        country: KP
        kind: origin-town
        lat: 41
        lon: 128
        source: toy-judgement
    """
)


def test_planted_errors_are_all_reported_with_file_line_field(
    tmp_path: Path, toy: dict[str, Any]
) -> None:
    root = write_atlas(tmp_path / "atlas", toy)
    (root / "planted.yaml").write_text(PLANTED, encoding="utf-8")
    found = problems_of(root)
    expected = [
        ("planted.yaml:5: to:", "unknown place 'hom'"),
        ("planted.yaml:8: duration_days:", "cannot be negative"),
        ("planted.yaml:9: cost_usd.value:", "NaN"),
        ("planted.yaml:10: p_intercept:", "probability in [0, 1]"),
        ("planted.yaml:11: detour_factor.source:", "no source"),
        ("planted.yaml:12: months[1]:", "unknown month 13"),
        ("planted.yaml:17: country:", "unknown country 'XX'"),
        ("planted.yaml:19: lat:", "90"),
        ("planted.yaml:21: source:", "unknown source 'no-such-source'"),
        ("planted.yaml:22: id:", "duplicate place id 'home'"),
    ]
    for prefix, fragment in expected:
        assert any(p.endswith(_tail(p, prefix)) and prefix in p and fragment in p for p in found), (
            prefix,
            fragment,
            found,
        )


def _tail(p: str, prefix: str) -> str:
    return p[p.find(prefix) :] if prefix in p else prefix


def test_each_problem_names_the_entry(tmp_path: Path, toy: dict[str, Any]) -> None:
    root = write_atlas(tmp_path / "atlas", toy)
    (root / "planted.yaml").write_text(PLANTED, encoding="utf-8")
    leg_problems = [p for p in problems_of(root) if "planted.yaml:1" in p and ":1" in p]
    assert leg_problems
    assert all("(leg bad-leg)" in p for p in problems_of(root) if "planted.yaml:5:" in p)


def test_malformed_yaml_is_located(tmp_path: Path, toy: dict[str, Any]) -> None:
    root = write_atlas(tmp_path / "atlas", toy)
    (root / "broken.yaml").write_text("places:\n  - id: x\n    name: [unclosed\n", "utf-8")
    found = problems_of(root)
    assert any("broken.yaml:" in p and "not valid YAML" in p for p in found)


def test_duplicate_keys_and_unknown_fields(tmp_path: Path, toy: dict[str, Any]) -> None:
    root = write_atlas(tmp_path / "atlas", toy)
    (root / "dup.yaml").write_text(
        "sources:\n  - id: s2\n    title: a\n    title: b\n    publisher: p\n    kind: press\n"
        "    colour: red\n",
        "utf-8",
    )
    found = problems_of(root)
    assert any("dup.yaml:4: sources[0].title: duplicate key 'title'" in p for p in found)
    assert any("dup.yaml:7: colour: unknown field 'colour'" in p for p in found)


def test_unknown_kind_suggests_spelling(tmp_path: Path, toy: dict[str, Any]) -> None:
    root = write_atlas(tmp_path / "atlas", toy)
    (root / "typo.yaml").write_text("plaeces: []\n", "utf-8")
    assert any(
        "typo.yaml:1: plaeces: unknown kind (did you mean 'places'?)" in p
        for p in problems_of(root)
    )


def test_not_a_directory_and_empty_directory(tmp_path: Path) -> None:
    assert any("not a directory" in p for p in problems_of(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    assert any("no .yaml files" in p for p in problems_of(tmp_path / "empty"))


def test_assumption_only_number_needs_a_note(toy: dict[str, Any]) -> None:
    del toy["legs"][0]["cost_usd"]["note"]
    with pytest.raises(AtlasError, match="rests only on an assumption source and has no note"):
        atlas_from_data(toy)


def test_overlapping_policy_periods(toy: dict[str, Any]) -> None:
    extra = dict(toy["policies"][1], id="cn-later", in_use={"from": 2000})
    toy["policies"].append(extra)
    with pytest.raises(AtlasError, match="overlaps policy 'cn-all'"):
        atlas_from_data(toy)


def test_policy_periods_may_change_on_a_day(toy: dict[str, Any]) -> None:
    toy["policies"][1]["in_use"] = {"from": 1950, "until": dt.date(2013, 5, 9)}
    toy["policies"].append(dict(toy["policies"][1], id="cn-later", in_use={"from": "2013-05-10"}))
    atlas = atlas_from_data(toy)
    assert atlas.policy_for("CN", dt.date(2013, 5, 9)).id == "cn-all"  # type: ignore[union-attr]
    assert atlas.policy_for("CN", dt.date(2013, 5, 10)).id == "cn-later"  # type: ignore[union-attr]
    # A year stands for its last day when it ends a period.
    toy["policies"][1]["in_use"] = {"from": 1950, "until": 2013}
    with pytest.raises(AtlasError, match=r"overlaps policy 'cn-all'.*end before 2013-05-10"):
        atlas_from_data(toy)


def test_a_policy_period_ending_before_it_starts_is_refused(toy: dict[str, Any]) -> None:
    toy["policies"][1]["in_use"] = {"from": "2013-05-10", "until": "2013-05-09"}
    with pytest.raises(AtlasError, match="until 2013-05-09 is before from 2013-05-10"):
        atlas_from_data(toy)


def test_policy_outcomes_must_be_able_to_sum_to_one(toy: dict[str, Any]) -> None:
    toy["policies"][1]["outcomes"]["released"] = {
        "value": 0.5,
        "source": "toy-judgement",
        "note": "x",
    }
    with pytest.raises(AtlasError, match="cannot be 1"):
        atlas_from_data(toy)


def test_case_needs_a_leg_in_use_in_its_season(toy: dict[str, Any]) -> None:
    toy["cases"][0]["months"] = [3]  # neither ice (Dec-Feb) nor wading (Apr-Nov)
    with pytest.raises(AtlasError, match="no leg from 'home' to 'bank' is in use in 2005"):
        atlas_from_data(toy)


def test_place_country_needs_a_policy(toy: dict[str, Any]) -> None:
    toy["places"][2]["country"] = "VN"
    with pytest.raises(AtlasError, match="no policy for country VN"):
        atlas_from_data(toy)


def test_overlay_adds_and_overrides_with_provenance(tmp_path: Path, toy: dict[str, Any]) -> None:
    base = write_atlas(tmp_path / "base", toy)
    overlay = tmp_path / "private"
    overlay.mkdir()
    leg = dict(
        toy["legs"][2],
        name="Bus, as our partners report it",
        cost_usd={"value": 800, "source": "toy-judgement", "note": "partner report"},
    )
    new_place = dict(toy["places"][2], id="second-city", name="Second city")
    (overlay / "mine.yaml").write_text(
        __import__("yaml").safe_dump({"legs": [leg], "places": [new_place]}), "utf-8"
    )
    atlas = load_atlas(base, overlays=[overlay])
    assert atlas.legs["bank-city-bus"].cost_usd.value == 800
    assert "second-city" in atlas.places
    assert atlas.origin("legs", "bank-city-bus").file.endswith("mine.yaml")
    assert [o.key for o in atlas.overrides] == [("legs", "bank-city-bus")]
    assert atlas.overrides[0].replaced.file.endswith("legs.yaml")


def test_overlay_inside_a_git_tree_warns(tmp_path: Path, toy: dict[str, Any]) -> None:
    base = write_atlas(tmp_path / "base", toy)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    overlay = write_atlas(repo / "overlay", {"places": [toy["places"][0]]})
    atlas = load_atlas(base, overlays=[overlay])
    assert any("inside a git work tree" in w for w in atlas.warnings)


def test_overlay_problems_name_the_overlay_file(tmp_path: Path, toy: dict[str, Any]) -> None:
    base = write_atlas(tmp_path / "base", toy)
    overlay = tmp_path / "private"
    overlay.mkdir()
    (overlay / "bad.yaml").write_text(
        "legs:\n  - id: bank-city-bus\n    name: x\n    from: bank\n    to: nowhere\n"
        "    mode: bus\n    operator: broker\n"
        "    duration_days: {value: 1, source: toy-judgement, note: x}\n"
        "    cost_usd: {value: 1, source: toy-judgement, note: x}\n"
        "    p_intercept: {value: 0.1, source: toy-judgement, note: x}\n"
        "    distance_km: {value: 1, source: toy-judgement, note: x}\n"
        "    source: toy-judgement\n",
        "utf-8",
    )
    found = problems_of(base, overlays=(overlay,))
    assert any("bad.yaml:5: to: unknown place 'nowhere'" in p for p in found)


def test_alias_bomb_and_recursion_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "a"
    root.mkdir()
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1},"
        f" *a{i - 1}, *a{i - 1}, *a{i - 1}]"
        for i in range(1, 9)
    ]
    (root / "bomb.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    (root / "loop.yaml").write_text("places: &p [*p]\n", "utf-8")
    found = problems_of(root)
    assert any("bomb.yaml" in p and "expanding aliases" in p for p in found)
    assert any("loop.yaml" in p for p in found)
