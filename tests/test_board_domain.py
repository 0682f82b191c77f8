"""The board's domain: codes, notes, windows, statuses, access by role, audit, overdue, purge.

The board tests run on both backends (``boardkit.board_target``: an SQLCipher file and a
PostgreSQL schema of their own) with a key file, so that Argon2 runs only where it is the subject.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from nkescape.atlas import Atlas, load_atlas
from nkescape.board import auth
from nkescape.board.crypto import BoardKey
from nkescape.board.errors import (
    BoardError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RefusedError,
)
from nkescape.board.model import (
    CODE_ALPHABET,
    Action,
    Checkin,
    Journey,
    JourneyStatus,
    LegWindow,
    Overdue,
    PlanVersion,
    Role,
    User,
    midnight,
    new_code,
    parse_code,
    parse_time,
)
from nkescape.board.privacy import NOTE_MAX, RETENTION_DAYS, check_note, findings
from nkescape.board.service import Board, Removal, overdue_of
from nkescape.board.vault import Vault, read_export
from nkescape.board.windows import RUNS, SEED, leg_windows
from nkescape.routing import plan
from nkescape.simulate import Chunk, simulate

from . import boardkit

board_target = boardkit.board_target
board_key = boardkit.board_key

DEPARTURE = dt.date(2017, 9, 1)
START = "hyesan"
GROUP = "2w,1c"
# Itinerary 2 from Hyesan in September 2017: six legs, safe at Incheon, the end of leg 5.
SAFE_ITINERARY, SAFE_LEG, SAFE_LEGS = 2, 5, 6
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return load_atlas()


class Clock:
    """A clock the test moves."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2018, 1, 1, 12, tzinfo=dt.UTC))


@pytest.fixture
def board(
    board_target: tuple[str, str | None], board_key: BoardKey, atlas: Atlas, clock: Clock
) -> Iterator[Board]:
    target, schema = board_target
    b = Board(Vault.create(target, board_key, schema=schema), atlas=atlas, clock=clock)
    try:
        yield b
    finally:
        b.close()


LOCAL = Board.LOCAL


def t(day: int, hour: int = 0, month: int = 9) -> dt.datetime:
    return dt.datetime(2017, month, day, hour, tzinfo=dt.UTC)


def new(board: Board, **kw: Any) -> Journey:
    args: dict[str, Any] = {"start": START, "departure": DEPARTURE, "group": GROUP}
    return board.new_journey(LOCAL, **{**args, **kw})


def actions(board: Board) -> list[tuple[str, str, str | None]]:
    return [(r.actor, r.action, r.journey) for r in board.vault.audit_rows()]


# --- codes ------------------------------------------------------------------------------------


def test_codes_are_80_random_bits_in_four_groups() -> None:
    codes = [new_code() for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    for code in codes[:50]:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4, 4]
        assert set("".join(groups)) <= set(CODE_ALPHABET)
    assert len(CODE_ALPHABET) == 32  # 16 symbols x 5 bits = 80 bits
    # Not sequential: consecutive codes share about 1/32 of their symbols by chance, no more.
    same = [sum(a == b for a, b in zip(x, y, strict=True)) for x, y in itertools.pairwise(codes)]
    # The 3 dashes, plus 16/32 = 0.5 symbols expected, known to about 0.016 over 2,000 pairs.
    assert np.mean(same) < 3 + 0.5 + 0.1
    # Every symbol is drawn, evenly: 32,000 symbols, 1,000 of each expected.
    counts = np.array([sum(c.count(s) for c in codes) for s in CODE_ALPHABET])
    assert counts.min() > 800 and counts.max() < 1200


def test_a_code_reads_back_whatever_the_case_dashes_and_look_alikes() -> None:
    assert parse_code("k7qm4xtr9bwe2hda") == "K7QM-4XTR-9BWE-2HDA"
    assert parse_code(" K7QM 4XTR-9BWE 2HDA ") == "K7QM-4XTR-9BWE-2HDA"
    assert parse_code("k7qm-4xtr-9bwe-2hdo") == "K7QM-4XTR-9BWE-2HD0"  # O is 0
    assert parse_code("I7QM-4XTR-9BWE-2HDL") == "17QM-4XTR-9BWE-2HD1"  # I and L are 1
    for bad in ("", "K7QM-4XTR-9BWE", "K7QM-4XTR-9BWE-2HDA-1", "K7QM-4XTR-9BWE-2HDU", "x" * 500):
        with pytest.raises(NotFoundError, match="not a journey code"):
            parse_code(bad)


def test_times_without_a_zone_are_utc_and_bad_ones_say_the_format() -> None:
    assert parse_time("2017-09-02T14:30") == dt.datetime(2017, 9, 2, 14, 30, tzinfo=dt.UTC)
    assert parse_time("2017-09-02T23:30+09:00") == dt.datetime(2017, 9, 2, 14, 30, tzinfo=dt.UTC)
    with pytest.raises(BoardError, match="ISO time"):
        parse_time("yesterday")


# --- notes ------------------------------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "waiting",
        "for",
        "the",
        "river",
        "to",
        "freeze",
        "days",
        "crossed",
        "all",
        "well",
        "broker",
        "late",
        "rain",
        "tonight",
        "bus",
        "full",
        "safe",
        "house",
        "yuan",
        "won",
        "paid",
        "one",
        "child",
        "sick",
        "강",
        "기다림",
        "-20°C",
        "cold",
        "leg",
        "done",
    ]
)
_SMALL = st.integers(0, 999).map(str)
_PRICE = st.integers(1_000, 9_999_999).map(lambda n: f"{n:,}")
_TIME = st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda hm: f"{hm[0]:02}:{hm[1]:02}")
_DATE = st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)).map(dt.date.isoformat)


@st.composite
def ordinary_notes(draw: st.DrawFn) -> str:
    """Short notes as partners write them: words, small numbers, prices, times, dates."""
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 8))):
        parts.append(draw(_WORDS))
        if draw(st.booleans()):
            # A number is always followed by a word, so numbers never run together.
            parts += [draw(st.one_of(_SMALL, _PRICE, _TIME, _DATE)), draw(_WORDS)]
    return " ".join(parts)[:NOTE_MAX]


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    """Phone numbers as people write them, in several countries' styles."""
    style = draw(st.integers(0, 5))
    if style == 0:  # international: +86 138 0013 8000
        cc = draw(st.sampled_from(["1", "7", "44", "82", "86", "66", "856", "95"]))
        groups = [draw(_digits(draw(st.integers(2, 4)))) for _ in range(3)]
        sep = draw(st.sampled_from([" ", "-", ".", ""]))
        return f"+{cc} " + sep.join(groups)
    if style == 1:  # national with dashes: 010-1234-5678
        return f"0{draw(_digits(2))}-{draw(_digits(4))}-{draw(_digits(4))}"
    if style == 2:  # area code in brackets: (02) 123 4567
        return f"({draw(_digits(2))}) {draw(_digits(3))} {draw(_digits(4))}"
    if style == 3:  # a mobile number written as one run: 13800138000
        return "1" + draw(_digits(10))
    if style == 4:  # dotted: 138.0013.8000
        return f"{draw(_digits(3))}.{draw(_digits(4))}.{draw(_digits(4))}"
    return f"+{draw(_digits(2))}({draw(_digits(1))}){draw(_digits(3))}-{draw(_digits(4))}"


@st.composite
def coordinates(draw: st.DrawFn) -> str:
    """A position, decimal or in degrees, minutes and seconds, in the usual notations."""
    lat = draw(st.floats(-90, 90, allow_nan=False))
    lon = draw(st.floats(-180, 180, allow_nan=False))
    n = draw(st.integers(2, 6))
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    style = draw(st.integers(0, 4))
    if style == 0:
        sep = draw(st.sampled_from([", ", ",", " ", "; ", " / "]))
        return f"{lat:.{n}f}{sep}{lon:.{n}f}"
    if style == 1:
        m = draw(st.integers(1, 4))
        return f"{abs(lat):.{m}f}{ns} {abs(lon):.{m}f}{ew}"
    if style == 2:
        return f"lat {lat:.{draw(st.integers(1, 5))}f}"

    def dms(x: float) -> tuple[int, int, int]:
        x = abs(x)
        d = int(x)
        m = int((x - d) * 60)
        return d, m, int(((x - d) * 60 - m) * 60)

    (a, b, c), (d, e, f) = dms(lat), dms(lon)
    if style == 3:
        return f"{a}°{b}'{c}\"{ns} {d}°{e}'{f}\"{ew}"
    return f"{a}° {b}\u2032 {ns}, {d}° {e}\u2032 {ew}"  # primes for minutes


@st.composite
def document_numbers(draw: st.DrawFn) -> str:
    style = draw(st.integers(0, 2))
    if style == 0:  # passport: G12345678, EA1234567
        letters = draw(st.text("ABCDEFGHJKMNPRSTVXYZ", min_size=1, max_size=2))
        return letters + draw(_digits(draw(st.integers(7, 9))))
    if style == 1:  # an ID card's digits: 18 digits (China)
        return draw(_digits(17)) + draw(st.sampled_from(["", "X"]))
    return f"{draw(_digits(6))}-{draw(_digits(7))}"  # resident registration number


def _around(draw: st.DrawFn, core: str) -> str:
    before = draw(st.sampled_from(["", "call ", "new: ", "broker "]))
    after = draw(st.sampled_from(["", " tonight", ", ask for kim"]))
    return before + core + after


NOTES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@NOTES
@given(ordinary_notes())
def test_ordinary_notes_pass(note: str) -> None:
    assert check_note(note) == note.strip()


@NOTES
@given(st.data())
def test_phone_numbers_are_refused(data: st.DataObject) -> None:
    note = _around(data.draw, data.draw(phone_numbers()))
    with pytest.raises(RefusedError, match=r"phone number|long number") as info:
        check_note(note)
    assert "leave" in str(info.value)


@NOTES
@given(st.data(), st.emails().filter(lambda e: len(e) <= NOTE_MAX - 20))
def test_email_addresses_are_refused(data: st.DataObject, email: str) -> None:
    note = _around(data.draw, email)
    with pytest.raises(RefusedError, match="e-mail address"):
        check_note(note)


@NOTES
@given(st.data())
def test_coordinates_are_refused(data: st.DataObject) -> None:
    note = _around(data.draw, data.draw(coordinates()))
    with pytest.raises(RefusedError, match="coordinates"):
        check_note(note)


@NOTES
@given(st.data())
def test_document_numbers_are_refused(data: st.DataObject) -> None:
    note = _around(data.draw, data.draw(document_numbers()))
    with pytest.raises(RefusedError, match=r"document number|long number"):
        check_note(note)


@pytest.mark.parametrize(
    ("note", "kind"),
    [
        ("kim (at) example (dot) org", "e-mail address"),
        ("@kim_99 on telegram", "messenger handle"),
        ("see https://maps.example/?q=x", "web address"),
        ("///filled.count.soap", "web address"),
        ("41.81N 128.25E", "coordinates"),
        # Full-width digits, as East Asian keyboards type them.
        (
            "call \uff10\uff11\uff10-\uff11\uff12\uff13\uff14-\uff15\uff16\uff17\uff18",
            "phone number",
        ),
    ],
)
def test_other_ways_to_find_someone_are_refused(note: str, kind: str) -> None:
    with pytest.raises(RefusedError, match=kind):
        check_note(note)


@pytest.mark.parametrize(
    "note",
    [
        "crossed on 2017-09-01",
        "leg 3 2017-09-01 done",
        "from 01.09.2017 to 2017/09/03",
        "-20°C, 3 days, 1,500,000 won",
        "bus at 14:30-16:00",
        "waiting for the river to freeze, 2 days",
    ],
)
def test_dates_times_and_amounts_pass(note: str) -> None:
    assert check_note(note) == note


@pytest.mark.parametrize("note", ["+1 10-12-2017", "call 0912 10.12.2017", "+1 00-00-0000"])
def test_a_phone_number_that_looks_like_a_date_is_still_refused(note: str) -> None:
    with pytest.raises(RefusedError, match="phone number"):
        check_note(note)


def test_a_refusal_names_the_kind_and_place_but_never_repeats_the_text() -> None:
    with pytest.raises(RefusedError) as info:
        check_note("ok, kim@example.org and +82 10 1234 5678")
    message = str(info.value)
    assert "e-mail address and a phone number" in message or (
        "phone number" in message and "e-mail address" in message
    )
    assert "characters 5-" in message
    assert "example" not in message and "1234" not in message
    assert "\n" not in message


def test_notes_are_short_one_line_and_plain() -> None:
    assert check_note("x" * NOTE_MAX) == "x" * NOTE_MAX
    with pytest.raises(RefusedError, match=f"keep it to {NOTE_MAX}"):
        check_note("x" * (NOTE_MAX + 1))
    for bad in ("two\nlines", "a\x00b", "hidden\u200bspace", "bidi\u202eevil"):
        with pytest.raises(RefusedError, match="control or invisible"):
            check_note(bad)
    assert check_note("  ") == ""
    assert findings("waiting for the river to freeze, 2 days") == []
    assert RETENTION_DAYS == 30


# --- windows ----------------------------------------------------------------------------------


def test_windows_grow_along_the_legs_and_repeat_for_a_seed(atlas: Atlas) -> None:
    p = plan(atlas, START, date=DEPARTURE, group=GROUP)
    for rank in range(1, len(p.itineraries) + 1):
        windows = leg_windows(atlas, p, rank)
        it = p.itineraries[rank - 1]
        assert [w.leg for w in windows] == [s.leg for s in it.legs]
        assert [w.index for w in windows] == list(range(1, len(it.legs) + 1))
        assert windows[0].start == START and windows[-1].end == "seoul"
        for w in windows:
            assert 0 <= w.p50_days <= w.p90_days
        for a, b in itertools.pairwise(windows):
            assert a.p50_days <= b.p50_days and a.p90_days <= b.p90_days
    assert leg_windows(atlas, p, 3) == leg_windows(atlas, p, 3)
    assert leg_windows(atlas, p, 3, seed=SEED + 1) != leg_windows(atlas, p, 3)
    with pytest.raises(BoardError, match="choose 1-"):
        leg_windows(atlas, p, len(p.itineraries) + 1)


def _completed_days(atlas: Atlas, p: Any, rank: int, runs: int, seed: int) -> np.ndarray:
    chunks: list[Chunk] = []
    simulate(
        atlas, p, rank, runs=runs, seed=seed, backend="numpy", workers=1, on_chunk=chunks.append
    )
    return np.concatenate([c.days[c.end_leg == -1] for c in chunks])


def test_the_last_window_is_the_simulators_own_journeys(atlas: Atlas) -> None:
    # The same seed: the windows' run of the whole itinerary is simulate()'s first chunk.
    p = plan(atlas, START, date=DEPARTURE, group=GROUP)
    last = leg_windows(atlas, p, 3)[-1]
    days = _completed_days(atlas, p, 3, RUNS, SEED)
    assert last.p50_days == pytest.approx(float(np.quantile(days, 0.5)), abs=0.005)
    assert last.p90_days == pytest.approx(float(np.quantile(days, 0.9)), abs=0.005)


@pytest.mark.parametrize(("start", "rank"), [("hyesan", 1), ("hyesan", 3), ("musan", 1)])
def test_the_last_window_agrees_with_an_independent_simulation(
    atlas: Atlas, start: str, rank: int
) -> None:
    # Another seed and ten times the runs: the window's quantiles must fall within the order
    # statistics' confidence interval, widened for the window's own sampling error.
    p = plan(atlas, start, date=DEPARTURE, group=GROUP)
    last = leg_windows(atlas, p, rank)[-1]
    days = np.sort(_completed_days(atlas, p, rank, 10 * RUNS, SEED + 99))
    n = days.size
    assert n > 1000
    z = 5.0  # about 1 in 3 million by chance, per comparison
    for q, got in ((0.5, last.p50_days), (0.9, last.p90_days)):
        # The window's sample is about n / 10; its rank error dominates the reference's.
        spread = z * math.sqrt(q * (1 - q) * n) * math.sqrt(1 + 10)
        lo = days[max(0, int(q * n - spread))]
        hi = days[min(n - 1, int(q * n + spread))]
        assert lo - 0.01 <= got <= hi + 0.01, (q, got, lo, hi)


# --- values -----------------------------------------------------------------------------------


def test_values_read_back_from_their_json(board: Board) -> None:
    j = new(board)
    j = board.checkin(LOCAL, j.code, leg=1, status="ok", note="crossed", at=t(1, 6), spent_usd=50)
    assert Journey.from_json(j.to_json()) == j
    assert PlanVersion.from_json(j.plan.to_json()) == j.plan
    assert LegWindow.from_json(j.legs[0].to_json()) == j.legs[0]
    assert Checkin.from_json(j.checkins[0].to_json()) == j.checkins[0]
    assert User.from_json(LOCAL.to_json()) == LOCAL
    late = overdue_of(j, t(20))
    assert late is not None and Overdue.from_json(late.to_json()) == late
    data = j.to_json()
    assert data["format"] == 1
    assert data["group"] == {"women": 2, "men": 0, "children": 1, "elderly": 0, "disabled": 0}
    # Nothing but counts describes the group: no field for a name, phone or address.
    assert not {"name", "names", "phone", "address", "lat", "lon"} & set(data)


# --- journeys and check-ins -------------------------------------------------------------------


def test_a_new_journey_carries_its_plan_and_windows(board: Board, atlas: Atlas) -> None:
    j = new(board, itinerary=SAFE_ITINERARY, funding="ngo")
    assert parse_code(j.code) == j.code
    assert j.status == JourneyStatus.PLANNED and j.current_leg == 0
    assert j.funding == "ngo" and j.group.size == 3
    p = plan(atlas, START, date=DEPARTURE, group=GROUP, funding="ngo")
    assert j.legs == leg_windows(atlas, p, SAFE_ITINERARY)
    assert j.plan.safety_at == "incheon" and j.plan.safety_leg == SAFE_LEG
    assert j.plan.due(1) == midnight(DEPARTURE) + dt.timedelta(days=j.legs[0].p90_days)
    assert board.journey(LOCAL, j.code.lower().replace("-", "")) == j
    assert [x.code for x in board.journeys(LOCAL)] == [j.code]


def test_bad_plans_are_one_line_board_errors(board: Board) -> None:
    for kwargs, match in (
        ({"start": "atlantis"}, "unknown origin place"),
        ({"departure": dt.date(1800, 1, 1)}, "outside the years"),
        ({"group": "2x"}, "group: cannot read"),
        ({"funding": "lottery"}, "unknown funding"),
        ({"itinerary": 99}, "choose 1-"),
        ({"partner": "nobody"}, "no partner account"),
    ):
        with pytest.raises(BoardError, match=match):
            new(board, **kwargs)
    assert board.journeys(LOCAL) == []


def test_check_ins_move_the_journey_along(board: Board) -> None:
    j = new(board, itinerary=SAFE_ITINERARY)
    code = j.code
    steps: list[tuple[int, str, JourneyStatus, int]] = [
        (1, "delayed", JourneyStatus.UNDER_WAY, 0),
        (1, "ok", JourneyStatus.AT_LEG, 1),
        (2, "waiting", JourneyStatus.AT_LEG, 1),
        (2, "lost", JourneyStatus.LOST_CONTACT, 1),
        (2, "delayed", JourneyStatus.AT_LEG, 1),  # contact is back
        (3, "ok", JourneyStatus.AT_LEG, 3),  # leg 2's end was not reported: leg 3's implies it
        (SAFE_LEG, "ok", JourneyStatus.SAFE, SAFE_LEG),
        (SAFE_LEGS, "delayed", JourneyStatus.SAFE, SAFE_LEG),
        (SAFE_LEGS, "ok", JourneyStatus.ARRIVED, SAFE_LEGS),
    ]
    for hour, (leg, status, expected, current) in enumerate(steps):
        j = board.checkin(LOCAL, code, leg=leg, status=status, at=t(2, hour))
        assert (j.status, j.current_leg) == (expected, current), (leg, status)
    assert len(j.checkins) == len(steps)
    assert j.checkins[0].by == LOCAL.name and j.checkins[0].plan == 1
    j = board.checkin(LOCAL, code, leg=1, status="caught", at=t(3))
    assert j.status == JourneyStatus.CAUGHT


def test_spending_is_summed_per_leg(board: Board) -> None:
    code = new(board).code
    board.checkin(LOCAL, code, leg=1, status="delayed", at=t(1), spent_usd=20)
    board.checkin(LOCAL, code, leg=1, status="ok", at=t(1, 5), spent_usd=30.5)
    j = board.checkin(LOCAL, code, leg=3, status="delayed", at=t(2), spent_usd=1000)
    assert j.spent_usd == (50.5, 0.0, 1000.0, 0.0)
    assert j.spent_total_usd == 1050.5


def test_bad_check_ins_are_refused_and_store_nothing(board: Board, clock: Clock) -> None:
    code = new(board).code
    before = len(board.vault.events(code))
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"leg": 0}, BoardError, r"leg 0: .* has 4 legs \(1-4\)"),
        ({"leg": 5}, BoardError, "has 4 legs"),
        ({"leg": True}, BoardError, "has 4 legs"),
        ({"status": "fine"}, BoardError, "unknown check-in status 'fine' .one of ok, delayed"),
        ({"note": "call +82 10 1234 5678"}, RefusedError, "phone number"),
        ({"at": clock.now + dt.timedelta(hours=1)}, BoardError, "in the future"),
        ({"at": dt.datetime(2017, 8, 30)}, BoardError, "no time zone"),
        ({"spent_usd": -1.0}, BoardError, "outside 0-1,000,000"),
        ({"spent_usd": math.nan}, BoardError, "give an amount"),
        ({"spent_usd": 2e6}, BoardError, "outside"),
    ]
    for change, error, match in cases:
        args: dict[str, Any] = {"leg": 1, "status": "ok", **change}
        with pytest.raises(error, match=match):
            board.checkin(LOCAL, code, **args)
    assert len(board.vault.events(code)) == before
    with pytest.raises(NotFoundError):
        board.checkin(LOCAL, new_code(), leg=1, status="ok")
    # A small clock drift is fine; a note is trimmed.
    j = board.checkin(
        LOCAL, code, leg=1, status="ok", at=clock.now + dt.timedelta(minutes=5), note=" ok "
    )
    assert j.checkins[-1].note == "ok"


def test_a_replan_keeps_the_history_and_counts_from_the_new_departure(board: Board) -> None:
    j = new(board)
    code = j.code
    board.checkin(LOCAL, code, leg=1, status="ok", at=t(1, 6))
    board.checkin(LOCAL, code, leg=2, status="ok", at=t(1, 20))
    board.checkin(LOCAL, code, leg=3, status="caught", at=t(3))
    j = board.replan(LOCAL, code, start="shenyang", departure=dt.date(2017, 9, 20), itinerary=2)
    assert j.version == 2 and len(j.plans) == 2
    assert j.plans[0].start == START and j.plan.start == "shenyang"
    assert j.plan.departure == dt.date(2017, 9, 20) and j.departure == dt.date(2017, 9, 20)
    assert [w.end for w in j.legs] == ["dalian", "incheon", "seoul"]
    assert j.current_leg == 0 and j.status == JourneyStatus.UNDER_WAY
    assert len(j.checkins) == 3  # the history stays
    due = j.plan.due(1)
    assert due == dt.datetime(2017, 9, 20, tzinfo=dt.UTC) + dt.timedelta(days=j.legs[0].p90_days)
    j = board.checkin(LOCAL, code, leg=1, status="ok", at=t(21))
    assert (j.status, j.current_leg, j.checkins[-1].plan) == (JourneyStatus.AT_LEG, 1, 2)
    with pytest.raises(BoardError, match="has 3 legs"):
        board.checkin(LOCAL, code, leg=4, status="ok", at=t(22))
    assert board.journey(LOCAL, code).plans[0] == j.plans[0]


def test_a_replan_of_a_group_that_never_set_out_stays_planned(board: Board) -> None:
    code = new(board).code
    j = board.replan(LOCAL, code, start=START, departure=dt.date(2017, 10, 1))
    assert j.status == JourneyStatus.PLANNED and j.version == 2


def test_statuses_set_by_hand_closing_and_reopening(board: Board) -> None:
    code = new(board).code
    j = board.set_status(LOCAL, code, "safe", at=t(5))
    assert j.status == JourneyStatus.SAFE
    j = board.set_status(LOCAL, code, JourneyStatus.CLOSED, at=t(6, 10))
    assert j.status == JourneyStatus.CLOSED and j.closed_on == dt.date(2017, 9, 6)
    j = board.set_status(LOCAL, code, "closed", at=t(9))
    assert j.closed_on == dt.date(2017, 9, 6)  # retention counts from the first closing
    with pytest.raises(ConflictError, match="closed"):
        board.checkin(LOCAL, code, leg=1, status="ok", at=t(6))
    with pytest.raises(ConflictError, match="closed"):
        board.replan(LOCAL, code, start=START, departure=DEPARTURE)
    j = board.set_status(LOCAL, code, "under-way")
    assert j.status == JourneyStatus.UNDER_WAY and j.closed_on is None
    with pytest.raises(BoardError, match="at-leg follows from an ok check-in"):
        board.set_status(LOCAL, code, "at-leg")
    with pytest.raises(BoardError, match="unknown status 'gone'"):
        board.set_status(LOCAL, code, "gone")


# --- overdue ----------------------------------------------------------------------------------


def test_overdue_after_the_next_legs_p90_with_how_late(board: Board) -> None:
    j = new(board)
    due1 = j.plan.due(1)
    assert board.overdue(LOCAL, now=due1) == []
    late = board.overdue(LOCAL, now=due1 + dt.timedelta(hours=5))
    assert [(o.code, o.leg, o.leg_id, o.late_hours) for o in late] == [
        (j.code, 1, j.legs[0].leg, 5.0)
    ]
    assert late[0].last_contact is None and late[0].status == JourneyStatus.PLANNED
    assert late[0].end == j.legs[0].end and late[0].due == due1
    # Confirming leg 1 moves the alert to leg 2's window.
    board.checkin(LOCAL, j.code, leg=1, status="ok", at=t(1, 8))
    assert board.overdue(LOCAL, now=due1 + dt.timedelta(hours=5)) == []
    due2 = j.plan.due(2)
    [o] = board.overdue(LOCAL, now=due2 + dt.timedelta(hours=30))
    assert (o.leg, o.late_hours, o.last_contact) == (2, 30.0, t(1, 8))
    # A waiting group is still late (the alert shows the last contact, for the coordinator).
    board.checkin(LOCAL, j.code, leg=2, status="waiting", at=due2 + dt.timedelta(hours=1))
    [o] = board.overdue(LOCAL, now=due2 + dt.timedelta(hours=30))
    assert o.last_contact == due2 + dt.timedelta(hours=1)


def test_overdue_sorts_the_latest_first_and_skips_finished_journeys(board: Board) -> None:
    early = new(board)
    later = new(board, departure=dt.date(2017, 9, 5))
    caught = new(board, departure=dt.date(2017, 8, 1))
    board.checkin(LOCAL, caught.code, leg=1, status="caught", at=t(2, month=8))
    arrived = new(board, departure=dt.date(2017, 8, 1))
    board.checkin(LOCAL, arrived.code, leg=4, status="ok", at=t(29, month=8))
    closed = new(board, departure=dt.date(2017, 8, 1))
    board.set_status(LOCAL, closed.code, "closed", at=t(2, month=8))
    lost = new(board, departure=dt.date(2017, 9, 3))
    board.checkin(LOCAL, lost.code, leg=1, status="lost", at=t(3, 3))
    found = board.overdue(LOCAL, now=t(10))
    assert early.plan.due(1) < lost.plan.due(1) < later.plan.due(1)
    assert [o.code for o in found] == [early.code, lost.code, later.code]
    assert [o.late_hours for o in found] == sorted((o.late_hours for o in found), reverse=True)
    assert found[1].status == JourneyStatus.LOST_CONTACT
    # Every journey looked at is audited as read by the overdue scan.
    scanned = {code for _, action, code in actions(board) if action == Action.OVERDUE}
    assert scanned == {j.code for j in (early, later, caught, arrived, closed, lost)}


# --- roles and access -------------------------------------------------------------------------


@pytest.fixture
def people(board: Board) -> tuple[User, User, User]:
    return (
        board.add_user(LOCAL, "mekong-1", Role.PARTNER, PASSWORD),
        board.add_user(LOCAL, "tumen-2", "partner", PASSWORD),
        board.add_user(LOCAL, "audit.1", Role.AUDITOR, PASSWORD),
    )


def test_a_partner_sees_and_checks_in_on_their_journeys_only(
    board: Board, people: tuple[User, User, User]
) -> None:
    mekong, tumen, _ = people
    mine = new(board, partner=mekong.name)
    other = new(board, partner=tumen.name)
    nobodys = new(board)
    assert [j.code for j in board.journeys(mekong)] == [mine.code]
    assert board.journey(mekong, mine.code).partner == mekong.name
    j = board.checkin(mekong, mine.code, leg=1, status="ok", at=t(1, 3))
    assert j.checkins[-1].by == mekong.name
    missing = new_code()
    with pytest.raises(NotFoundError) as absent:
        board.journey(mekong, missing)
    for code in (other.code, nobodys.code):
        for attempt in (
            lambda c: board.journey(mekong, c),
            lambda c: board.checkin(mekong, c, leg=1, status="ok", at=t(1)),
        ):
            with pytest.raises(NotFoundError) as hidden:
                attempt(code)
            # The same answer as for a code that does not exist, apart from the code itself.
            assert str(hidden.value).replace(code, "X") == str(absent.value).replace(missing, "X")
    denied = [(a, c) for who, a, c in actions(board) if who == mekong.name and a == Action.DENIED]
    assert (Action.DENIED, other.code) in denied
    # Alerts: only the partner's own journeys.
    assert {o.code for o in board.overdue(mekong, now=t(30))} <= {mine.code}
    assert {o.code for o in board.overdue(LOCAL, now=t(30))} == {
        mine.code,
        other.code,
        nobodys.code,
    }


def test_what_each_role_may_not_do(board: Board, people: tuple[User, User, User]) -> None:
    mekong, _, auditor = people
    code = new(board, partner=mekong.name).code
    for who in (mekong, auditor):
        for attempt in (
            lambda u: board.new_journey(u, start=START, departure=DEPARTURE, group=GROUP),
            lambda u: board.replan(u, code, start=START, departure=DEPARTURE),
            lambda u: board.set_status(u, code, "closed"),
            lambda u: board.assign(u, code, None),
            lambda u: board.add_user(u, "x1", Role.COORDINATOR, PASSWORD),
            lambda u: board.purge(u, now=t(1)),
            lambda u: board.export(u, Path("never.bin"), BoardKey(b"\0" * 32, "keyfile")),
        ):
            with pytest.raises(ForbiddenError, match="accounts may not"):
                attempt(who)
    with pytest.raises(ForbiddenError, match="auditor accounts may not check in"):
        board.checkin(auditor, code, leg=1, status="ok", at=t(1))
    refused = board.vault.audit_rows()[-1]
    assert (refused.actor, refused.action, refused.detail) == (
        "audit.1",
        Action.DENIED,
        "check in",
    )
    with pytest.raises(ForbiddenError, match="partner accounts may not read the audit log"):
        board.audit_log(mekong)
    # The auditor reads everything, changes nothing.
    assert board.journey(auditor, code).code == code
    assert [j.code for j in board.journeys(auditor)] == [code]
    assert board.audit_log(auditor)[-1].action == Action.AUDIT_READ
    assert [u.name for u in board.users(auditor)] == ["audit.1", "mekong-1", "tumen-2"]


def test_an_account_acts_with_the_role_the_board_holds_now(
    board: Board, people: tuple[User, User, User]
) -> None:
    mekong, _, _ = people
    # A session that claims more than the account is: refused.
    with pytest.raises(ForbiddenError, match="no longer exists or changed role"):
        board.new_journey(
            User(mekong.name, Role.COORDINATOR), start=START, departure=DEPARTURE, group=GROUP
        )
    with pytest.raises(ForbiddenError, match="no longer exists"):
        board.journeys(User("ghost", Role.AUDITOR))


def test_assigning_journeys(board: Board, people: tuple[User, User, User]) -> None:
    mekong, tumen, auditor = people
    code = new(board).code
    assert board.assign(LOCAL, code, mekong.name).partner == mekong.name
    assert [j.code for j in board.journeys(mekong)] == [code]
    assert board.assign(LOCAL, code, tumen.name).partner == tumen.name
    assert board.journeys(mekong) == []
    assert board.assign(LOCAL, code, None).partner is None
    with pytest.raises(
        BoardError, match=r"'audit\.1' is an auditor account; journeys are assigned"
    ):
        board.assign(LOCAL, code, auditor.name)


def test_accounts_names_passwords_and_duplicates(board: Board) -> None:
    user = board.add_user(LOCAL, "kim-1", "coordinator", PASSWORD)
    assert user == User("kim-1", Role.COORDINATOR)
    found = board.user("kim-1")
    assert found is not None and found[0] == user
    assert found[1]["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(found[1])
    assert board.verify_password("kim-1", PASSWORD) == user
    assert board.verify_password("kim-1", PASSWORD + "x") is None
    assert board.verify_password("nobody", PASSWORD) is None
    with pytest.raises(ConflictError):
        board.add_user(LOCAL, "kim-1", "partner", PASSWORD)
    for name in ("Kim", "kim lee", "", "x" * 33, "local-coordinator", "-kim"):
        with pytest.raises(BoardError):
            board.add_user(LOCAL, name, "partner", PASSWORD)
    with pytest.raises(BoardError, match="at least 12"):
        board.add_user(LOCAL, "lee", "partner", "short")
    with pytest.raises(BoardError, match="unknown role 'boss'"):
        board.add_user(LOCAL, "lee", "boss", PASSWORD)


# --- the account lifecycle --------------------------------------------------------------------

NEW_PASSWORD = "a different long passphrase"


def sessions_of(board: Board, name: str, n: int = 2) -> tuple[auth.SessionStore, list[str]]:
    """``n`` web sessions of ``name``, as the login starts them."""
    store = auth.SessionStore(board.vault, clock=board.clock)
    tokens = [store.start(name)[0] for _ in range(n)]
    assert all(store.get(token) is not None for token in tokens)
    return store, tokens


def no_secret_in_the_audit(board: Board, *secrets: str) -> None:
    for row in board.vault.audit_rows():
        text = str(row.to_json())
        for secret in secrets:
            assert secret not in text, row


def test_a_changed_password_ends_the_sessions_and_the_old_one_fails(
    board: Board, people: tuple[User, User, User]
) -> None:
    mekong, tumen, auditor = people
    store, tokens = sessions_of(board, mekong.name)
    _, others = sessions_of(board, tumen.name, 1)
    old_hash = board.vault.user(mekong.name)["password_hash"]  # type: ignore[index]
    assert board.set_password(LOCAL, mekong.name, NEW_PASSWORD) == mekong
    assert all(store.get(token) is None for token in tokens)
    assert store.get(others[0]) is not None  # someone else's stays
    assert board.verify_password(mekong.name, PASSWORD) is None
    assert board.verify_password(mekong.name, NEW_PASSWORD) == mekong
    record = board.vault.user(mekong.name)
    assert record is not None and record["role"] == "partner" and "created" in record
    new_hash = record["password_hash"]
    assert new_hash.startswith("$argon2id$") and new_hash != old_hash
    # Their own, from a session: only with the current password.
    with pytest.raises(BoardError, match="current password is wrong"):
        board.set_password(mekong, mekong.name, PASSWORD)
    with pytest.raises(BoardError, match="current password is wrong"):
        board.set_password(mekong, mekong.name, PASSWORD, current=PASSWORD)
    board.set_password(mekong, mekong.name, PASSWORD, current=NEW_PASSWORD)
    assert board.verify_password(mekong.name, PASSWORD) == mekong
    # Anyone else's: coordinators only; the new password follows the same rules.
    for who in (mekong, auditor):
        with pytest.raises(ForbiddenError, match="may not change other accounts' passwords"):
            board.set_password(who, tumen.name, NEW_PASSWORD)
    with pytest.raises(BoardError, match="at least 12"):
        board.set_password(LOCAL, tumen.name, "short")
    with pytest.raises(NotFoundError, match="no account 'ghost'"):
        board.set_password(LOCAL, "ghost", NEW_PASSWORD)
    with pytest.raises(NotFoundError):
        board.set_password(LOCAL, LOCAL.name, NEW_PASSWORD)
    assert board.verify_password(tumen.name, PASSWORD) == tumen  # the refusals changed nothing
    rows = [(r.actor, r.action, r.detail) for r in board.vault.audit_rows()]
    changes = [row for row in rows if row[1] != Action.DENIED]
    assert changes[-2:] == [
        (LOCAL.name, "user.password", mekong.name),
        (mekong.name, "user.password", mekong.name),
    ]
    # The two refused role checks are recorded: who tried, and what.
    assert [row[0] for row in rows[-2:]] == [mekong.name, auditor.name]
    assert all(row[1] == Action.DENIED for row in rows[-2:])
    no_secret_in_the_audit(board, PASSWORD, NEW_PASSWORD, old_hash, new_hash)
    assert board.verify_audit() == len(rows)


def test_a_removed_account_cannot_log_in_or_act_and_its_journeys_are_unassigned(
    board: Board, people: tuple[User, User, User]
) -> None:
    mekong, tumen, auditor = people
    mine = new(board, partner=mekong.name)
    board.set_status(LOCAL, mine.code, "closed", at=t(3))
    mine2 = new(board, partner=mekong.name)
    theirs = new(board, partner=tumen.name)
    store, tokens = sessions_of(board, mekong.name)
    for who in (tumen, auditor):
        with pytest.raises(ForbiddenError, match="may not remove accounts"):
            board.remove_user(who, mekong.name)
    done = board.remove_user(LOCAL, mekong.name)
    assert done.user == mekong and done.sessions == 2
    assert sorted(done.unassigned) == sorted([mine.code, mine2.code])
    assert done.to_json()["user"] == {"name": mekong.name, "role": "partner"}
    # The session no longer resolves; the account is gone; what it held is nobody's.
    assert all(store.get(token) is None for token in tokens)
    assert board.user(mekong.name) is None
    assert board.verify_password(mekong.name, PASSWORD) is None
    with pytest.raises(ForbiddenError, match="no longer exists"):
        board.journeys(mekong)
    assert board.journey(LOCAL, mine.code).partner is None
    closed = board.journey(LOCAL, mine.code)
    assert closed.status == JourneyStatus.CLOSED and closed.closed_on == t(3).date()
    assert board.journey(LOCAL, mine2.code).partner is None
    assert board.journey(LOCAL, theirs.code).partner == tumen.name
    with pytest.raises(NotFoundError, match="no account"):
        board.remove_user(LOCAL, mekong.name)
    # A new account of that name starts with nothing.
    again = board.add_user(LOCAL, mekong.name, Role.PARTNER, NEW_PASSWORD)
    assert board.journeys(again) == []
    removal = [
        (r.action, r.journey, r.detail)
        for r in board.vault.audit_rows()
        if r.action in ("user.remove", Action.ASSIGN)
    ]
    assert removal[0] == ("user.remove", None, "mekong-1 (partner)")
    assert sorted(removal[1:]) == sorted(
        (Action.ASSIGN, c, "nobody (account removed)") for c in (mine.code, mine2.code)
    )
    # An auditor or coordinator without journeys goes just as well.
    assert board.remove_user(LOCAL, auditor.name) == Removal(auditor, (), 0)
    assert board.verify_audit() == len(board.vault.audit_rows())


def test_the_second_factor_is_turned_on_and_off(
    board: Board, people: tuple[User, User, User]
) -> None:
    mekong, _, auditor = people
    store, tokens = sessions_of(board, mekong.name)
    secret = auth.new_totp_secret()
    assert board.set_totp(LOCAL, mekong.name, secret) == mekong
    found = board.user(mekong.name)
    assert found is not None and found[1]["totp"] == secret
    assert found[1]["password_hash"].startswith("$argon2id$")  # the rest of the record stays
    assert all(store.get(token) is None for token in tokens)
    # What an app shows for it is what the login checks.
    now = board.clock()
    assert auth.verify_totp(found[1]["totp"], auth.totp_code(secret, now), now) is not None
    # Spaces and lower case, as a person copies it, are stored as the app's form.
    spaced = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)).lower()
    board.set_totp(LOCAL, mekong.name, spaced)
    assert board.vault.user(mekong.name)["totp"] == secret  # type: ignore[index]
    _, more = sessions_of(board, mekong.name, 1)
    board.set_totp(LOCAL, mekong.name, None)
    assert board.vault.user(mekong.name)["totp"] is None  # type: ignore[index]
    assert store.get(more[0]) is None
    for bad, why in (("not base32!", "not base32"), ("ABCDEFGH", "fewer than 26")):
        with pytest.raises(BoardError, match=why):
            board.set_totp(LOCAL, mekong.name, bad)
        with pytest.raises(BoardError, match=why):
            board.add_user(LOCAL, "new-1", Role.PARTNER, PASSWORD, totp_secret=bad)
    assert board.user("new-1") is None
    assert board.vault.user(mekong.name)["totp"] is None  # type: ignore[index]
    for who in (mekong, auditor):
        with pytest.raises(ForbiddenError, match="may not change accounts' second factor"):
            board.set_totp(who, mekong.name, secret)
    with pytest.raises(NotFoundError, match="no account"):
        board.set_totp(LOCAL, "ghost", None)
    details = [r.detail for r in board.vault.audit_rows() if r.action == "user.totp"]
    assert details == ["mekong-1 on", "mekong-1 on", "mekong-1 off"]
    no_secret_in_the_audit(board, secret, secret.lower(), secret[:16])


# --- audit ------------------------------------------------------------------------------------


def test_every_read_and_write_of_a_journey_is_audited(board: Board) -> None:
    start = len(board.vault.audit_rows())
    j = new(board)
    code = j.code
    board.journey(LOCAL, code)
    board.journeys(LOCAL)
    board.checkin(LOCAL, code, leg=1, status="ok", at=t(1, 5))
    board.replan(LOCAL, code, start=START, departure=dt.date(2017, 9, 3))
    board.set_status(LOCAL, code, "closed", at=t(5))
    board.overdue(LOCAL, now=t(6))
    rows = board.vault.audit_rows()[start:]
    assert [(r.actor, r.action, r.journey) for r in rows] == [
        (LOCAL.name, Action.JOURNEY_NEW, code),
        (LOCAL.name, Action.JOURNEY_READ, code),
        (LOCAL.name, Action.JOURNEY_LIST, code),
        (LOCAL.name, Action.CHECKIN, code),
        (LOCAL.name, Action.REPLAN, code),
        (LOCAL.name, Action.STATUS, code),
        (LOCAL.name, Action.OVERDUE, code),
    ]
    # What happened to the group stays out of the audit, which outlives a purge.
    assert rows[3].detail is None and rows[5].detail is None
    assert board.verify_audit() == len(board.vault.audit_rows())
    # A note never goes into the audit log.
    board.set_status(LOCAL, code, "under-way")
    board.checkin(LOCAL, code, leg=1, status="delayed", note="broker late", at=t(6))
    assert all("broker" not in (r.detail or "") for r in board.audit_log(LOCAL))


@contextmanager
def statements(board: Board) -> Iterator[list[str]]:
    """The SQL the board's vault sends while the block runs."""
    seen: list[str] = []

    def record(conn: object, cursor: object, sql: str, *args: object) -> None:
        seen.append(sql)

    engine = board.vault._engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def copy_journey(board: Board, journey: Journey, partner: str | None = None) -> str:
    """A journey like ``journey`` (document and events) under a new code, without planning."""
    found = board.vault.journey_with_events(journey.code)
    assert found is not None
    code = new_code()
    board.vault.add_journey(code, {**found.doc, "code": code}, partner=partner)
    for e in found.events:
        board.vault.add_event(code, e)
    return code


def test_lists_and_scans_audit_each_journey_once_in_one_transaction(
    board: Board, people: tuple[User, User, User]
) -> None:
    mekong, _, auditor = people
    assert board.journeys(LOCAL) == [] and board.overdue(LOCAL, now=t(10)) == []
    assert actions(board)[-1][1] == Action.USER_ADD  # an empty list audits nothing
    first = new(board, partner=mekong.name)
    board.checkin(LOCAL, first.code, leg=1, status="ok", at=t(1, 6))
    codes = sorted([first.code, copy_journey(board, first)])
    queries: dict[str, list[int]] = {}
    for size in (2, 5):
        while len(codes) < size:
            codes = sorted([*codes, copy_journey(board, first, partner=mekong.name)])
        for name, call, action in (
            ("list", lambda u: board.journeys(u), Action.JOURNEY_LIST),
            ("overdue", lambda u: board.overdue(u, now=t(20)), Action.OVERDUE),
        ):
            for who in (LOCAL, auditor):
                before = len(board.vault.audit_rows())
                with statements(board) as seen:
                    call(who)
                rows = board.vault.audit_rows()[before:]
                # One row per journey, in code order, as single reads would write them...
                assert [(r.actor, r.action, r.journey) for r in rows] == [
                    (who.name, action, c) for c in codes
                ]
                # ...but one head update (one transaction) for all of them.
                assert len([s for s in seen if s.lstrip().upper().startswith("UPDATE")]) == 1
                queries.setdefault(f"{name} by {who.name}", []).append(len(seen))
    # The queries do not grow with the number of journeys.
    assert all(len(set(counts)) == 1 for counts in queries.values()), queries
    # A partner's list and scan audit only the journeys assigned to it.
    theirs = sorted(c for c in codes if board.journey(LOCAL, c).partner == mekong.name)
    assert len(theirs) == 4
    before = len(board.vault.audit_rows())
    assert sorted(j.code for j in board.journeys(mekong)) == theirs
    board.overdue(mekong, now=t(20))
    assert [(r.action, r.journey) for r in board.vault.audit_rows()[before:]] == [
        (Action.JOURNEY_LIST, c) for c in theirs
    ] + [(Action.OVERDUE, c) for c in theirs]
    assert board.verify_audit() == len(board.vault.audit_rows())


def test_export_and_purge_audit_each_journey_in_one_batch(
    board: Board, board_key: BoardKey, tmp_path: Path
) -> None:
    first = new(board)
    other = copy_journey(board, first)
    board.set_status(LOCAL, first.code, "closed", at=t(1))
    board.set_status(LOCAL, other, "closed", at=t(3))
    before = len(board.vault.audit_rows())
    assert board.export(LOCAL, tmp_path / "x.bin", board_key) == 2
    # Retention counts back 30 days from 2017-10-02: the one closed on 09-01 goes, 09-03 stays.
    assert board.purge(LOCAL, now=t(2, month=10)) == 1
    rows = board.vault.audit_rows()[before:]
    assert [(r.action, r.detail) for r in rows] == [
        (Action.EXPORT, None),
        (Action.EXPORT, None),
        (Action.PURGE, None),
    ]
    assert sorted(r.journey or "" for r in rows[:2])[1] == other
    assert board.verify_audit() == len(board.vault.audit_rows())


# --- retention and export ---------------------------------------------------------------------


def test_purge_deletes_journeys_closed_longer_than_the_retention(board: Board) -> None:
    old = new(board).code
    recent = new(board).code
    open_ = new(board).code
    board.set_status(LOCAL, old, "closed", at=t(1))
    board.set_status(LOCAL, recent, "closed", at=t(3))
    now = t(1, 12, month=10) + dt.timedelta(days=1)  # 2017-10-02: old closed 31 days ago
    assert board.purge(LOCAL, now=now) == 1
    with pytest.raises(NotFoundError):
        board.journey(LOCAL, old)
    assert {j.code for j in board.journeys(LOCAL)} == {recent, open_}
    assert board.purge(LOCAL, now=now) == 0
    assert board.purge(LOCAL, now=now, retention_days=0) == 1
    assert [j.code for j in board.journeys(LOCAL)] == [open_]
    purged = [r for r in board.vault.audit_rows() if r.action == Action.PURGE]
    assert len(purged) == 2 and all(r.journey and r.journey.startswith("#") for r in purged)
    with pytest.raises(BoardError, match="cannot be negative"):
        board.purge(LOCAL, now=now, retention_days=-1)
    assert board.verify_audit() > 0


def test_export_writes_an_encrypted_archive(
    board: Board, board_key: BoardKey, tmp_path: Path
) -> None:
    j = new(board)
    board.checkin(LOCAL, j.code, leg=1, status="ok", note="crossed the river", at=t(1, 4))
    out = tmp_path / "export.bin"
    assert board.export(LOCAL, out, board_key) == 1
    data = out.read_bytes()
    assert j.code.encode() not in data and b"crossed the river" not in data
    archive = read_export(out, board_key)
    assert [x["code"] for x in archive["journeys"]] == [j.code]
    assert (LOCAL.name, Action.EXPORT, j.code) in actions(board)


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_check_ins_are_all_kept(board: Board) -> None:
    codes = [new(board).code for _ in range(2)]
    errors: list[BaseException] = []
    writers, each = 8, 5

    def work(i: int) -> None:
        try:
            for k in range(each):
                board.checkin(LOCAL, codes[(i + k) % 2], leg=1, status="delayed", at=t(1, i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    total = sum(len(board.journey(LOCAL, c).checkins) for c in codes)
    assert total == writers * each
    assert board.verify_audit() > writers * each
