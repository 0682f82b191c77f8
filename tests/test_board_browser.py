"""The board's pages in a real Chromium (issue 16): log in, a journey from a plan, check-ins, an
overdue alert, over a real uvicorn server on loopback.

Playwright drives Debian's ``chromium`` as ``tests/test_web_browser.py`` does, with its watch:
every request the page makes is recorded, one to anywhere but the server fails the test (and is
aborted, so it never leaves the machine), as does a console error (a Content-Security-Policy
violation among them), an uncaught exception, a failed request or an error status the test did
not ask for. The server runs in this process, on a thread, so that its clock is the test's: the
journey is on time, then the clock moves past its next leg's p90 and the page must say it is
overdue, and by how much.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from nkescape.board.crypto import BoardKey, new_key_file
from nkescape.board.service import Board
from nkescape.web.board import board_app

from .test_web_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    LAPTOP,
    PHONE,
    _browser_or_skip,
    shoot,
    watched_page,
)

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
START = dt.datetime(2025, 3, 1, 6, 0, tzinfo=dt.UTC)
DEPARTURE = "2025-03-01"
# Seconds to wait for the server thread to answer, and for it to stop.
START_S = 30
# Waits in the browser, in milliseconds: a new journey plans and simulates its legs (about a
# second here), the rest is margin for a loaded CI machine.
UI_MS = 30_000


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Served:
    url: str
    board: Board
    clock: Clock


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free port of 127.0.0.1, on a thread, until the block ends."""
    import uvicorn

    from nkescape.cli.serve import LOOPBACK, bind

    # As `nkescape serve` binds it: a TCP socket by protocol, so that asyncio turns off Nagle's
    # algorithm (a socket of protocol 0 would make every keep-alive answer wait ~40 ms).
    sock = bind(LOOPBACK, 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(START_S)
        sock.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    _browser_or_skip()
    root = tmp_path_factory.mktemp("board")
    new_key_file(root / "board.key")
    board = Board.init(str(root / "board.db"), BoardKey.from_key_file(root / "board.key"))
    clock = Clock()
    board.clock = clock
    board.add_user(Board.LOCAL, "coord", "coordinator", PASSWORD)
    board.add_user(Board.LOCAL, "p1", "partner", PASSWORD)
    try:
        with serving(board_app(board, clock=clock)) as url:
            yield Served(url, board, clock)
    finally:
        board.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def log_in(page: Any, served: Served, name: str) -> None:
    """Log in with the keyboard only, as a user without a mouse would."""
    page.goto(served.url + "board")
    page.wait_for_url("**/board/login")
    page.wait_for_selector("body[data-ready=true]")
    page.keyboard.type(name)  # the name field has the focus on load
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/board/journeys")
    page.wait_for_selector("body[data-ready=true]")


def test_login_plan_check_in_and_overdue(browser: Any, served: Served) -> None:
    page, watch = watched_page(browser, served, LAPTOP)  # type: ignore[arg-type]
    watch.expected_status = {"/board/api/login": 401}
    try:
        journey_on_the_page(page, watch, served)
    finally:
        page.context.close()
    watch.check()


def journey_on_the_page(page: Any, watch: Any, served: Served) -> None:
    # A wrong password first: the page says so in the server's one generic line.
    page.goto(served.url + "board/login")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#login-name", "coord")
    page.fill("#login-password", "not the password")
    page.click("#login-submit")
    page.wait_for_function(
        "() => document.querySelector('#login-status').innerText.includes('wrong user name')"
    )
    log_in(page, served, "coord")
    assert "coord (coordinator)" in page.inner_text("#board-user")
    assert page.locator("#journeys-table tbody tr").count() == 0

    # A journey from a plan: Hyesan on the departure date, two women and a child, for p1.
    page.click("#board-nav a[href='/board/new']")
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#new-from", "hyesan")
    page.fill("#new-date", DEPARTURE)
    page.fill("#new-group", "2w,1c")
    page.fill("#new-partner", "p1")
    with page.expect_response(lambda r: r.url.endswith("/board/api/journeys")) as made:
        page.click("#new-submit")
    assert made.value.status == 201
    page.wait_for_url("**/board/journey#*")
    page.wait_for_selector("body[data-ready=true]")
    code = page.evaluate("() => decodeURIComponent(location.hash.slice(1))")
    # What the page shows is held to the journey as the board has it.
    journey = served.board.journey(Board.LOCAL, code).to_json()
    assert page.inner_text("#journey-code") == code
    legs = journey["plans"][0]["legs"]
    rows = page.locator("#legs-table tbody tr")
    assert rows.count() == len(legs)
    # Each leg's window, as the API gave it: p50 and p90 in days, and the times they mean.
    midnight = dt.datetime.fromisoformat(f"{DEPARTURE}T00:00:00+00:00")
    for i, leg in enumerate(legs):
        shown = rows.nth(i).inner_text()
        for days in (leg["p50_days"], leg["p90_days"]):
            when = midnight + dt.timedelta(days=days)
            assert when.strftime("%Y-%m-%d %H:%M UTC") in shown, (leg, shown)
    assert "next" in rows.nth(0).inner_text()
    assert page.locator("#journey-alert").is_hidden()  # not late yet
    shoot(page, "board-journey-1366x768.png", full_page=True)

    # Check in at leg 1's end, with a short note and the money spent.
    page.select_option("#checkin-leg", "1")
    page.select_option("#checkin-status", "ok")
    page.fill("#checkin-note", "crossed at dawn")
    page.fill("#checkin-spent", "150")
    with page.expect_response(lambda r: r.url.endswith("/checkins")) as checked:
        page.click("#checkin-submit")
    assert checked.value.status == 200
    page.wait_for_function(
        "() => document.querySelector('#checkins-list').innerText.includes('crossed at dawn')"
    )
    after = served.board.journey(Board.LOCAL, code).to_json()
    assert "reached" in page.locator("#legs-table tbody tr").nth(0).inner_text()
    assert "US$150" in page.locator("#legs-table tbody tr").nth(0).inner_text()
    # A note with a phone number is refused, and the page shows the server's line.
    page.fill("#checkin-note", "call +82 10 1234 5678")
    watch.expected_status[f"/board/api/journeys/{code}/checkins"] = 422
    watch_422(page)

    # Time passes beyond leg 2's p90 with no word: the journey is overdue, on every page.
    due = dt.datetime.fromisoformat(after["next_due"])
    served.clock.now = due + dt.timedelta(hours=30)
    page.goto(served.url + "board/journeys")  # the session has timed out meanwhile
    page.wait_for_url("**/board/login")
    log_in(page, served, "coord")
    alert = page.locator("#overdue-alert")
    alert.wait_for()
    assert "1 journey is overdue" in alert.inner_text()
    assert page.locator(f"#journeys-table tr.is-overdue[data-code='{code}']").count() == 1
    shoot(page, "board-journeys-1366x768.png")
    page.click("#overdue-alert a")
    page.wait_for_selector("body[data-ready=true]")
    row = page.locator(f"#overdue-table tr[data-code='{code}']")
    assert "1 d 6 h" in row.inner_text()  # 30 hours late
    row.locator("a").click()
    page.wait_for_selector("#journey-alert:not([hidden])")
    assert "Overdue by 1 d 6 h" in page.inner_text("#journey-alert")
    shoot(page, "board-journey-overdue-1366x768.png", full_page=True)
    assert "overdue by" in page.locator("#legs-table tbody tr").nth(1).inner_text()


def watch_422(page: Any) -> None:
    """Send the check-in form expecting the note to be refused (the page's watch allows it)."""
    with page.expect_response(lambda r: r.url.endswith("/checkins")) as refused:
        page.click("#checkin-submit")
    assert refused.value.status == 422
    page.wait_for_function(
        "() => document.querySelector('#checkin-message').innerText.includes('phone')"
    )


def test_a_partner_sees_only_check_ins_and_the_page_fits_a_phone(
    browser: Any, served: Served
) -> None:
    page, watch = watched_page(browser, served, PHONE)  # type: ignore[arg-type]
    try:
        log_in(page, served, "p1")
        links = page.locator("#board-nav a").all_inner_texts()
        assert links == ["Journeys", "Overdue"]
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        shoot(page, "board-journeys-phone-390.png", full_page=True)
        page.click("#board-logout")
        page.wait_for_url("**/board/login")
        page.goto(served.url + "board/journeys")
        page.wait_for_url("**/board/login")  # logged out: the pages send back to the login
    finally:
        page.context.close()
    watch.check()


def test_no_page_is_served_without_a_session(browser: Any, served: Served) -> None:
    page, watch = watched_page(browser, served, LAPTOP)  # type: ignore[arg-type]
    try:
        for path in ("board/journeys", "board/overdue", "board/audit", "board/new", "board/users"):
            page.goto(served.url + path)
            page.wait_for_url("**/board/login")
            page.wait_for_selector("body[data-ready=true]")
    finally:
        page.context.close()
    watch.check()
