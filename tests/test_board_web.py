"""The board's web side (issue 16): login, sessions, CSRF, throttling, TOTP and the roles at every
endpoint, over the real router and a real board on each backend (SQLCipher file, PostgreSQL).

Time is a clock the test moves (``Clock``), given to the board and to the router, so that the
idle timeout, the lifetime and the login delays are tested without sleeping. The route tables
below are checked against the router's own routes: a route added without a line here fails
``test_every_route_is_in_the_tables``, so none escapes the session, CSRF and role tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from nkescape.board import auth
from nkescape.board.auth import (
    ABSOLUTE_LIFETIME,
    ACCOUNT_FREE_FAILURES,
    ADDRESS_FREE_FAILURES,
    IDLE_TIMEOUT,
    MAX_DELAY_S,
    TOTP_STEP_S,
    LoginThrottle,
    Throttle,
    new_totp_secret,
    totp_code,
)
from nkescape.board.crypto import BoardKey
from nkescape.board.model import new_code
from nkescape.board.service import Board
from nkescape.web.board import board_app
from nkescape.web.board.routes import COOKIE, CSRF_HEADER, PAGES

from . import boardkit

with warnings.catch_warnings():
    # Starlette's test client warns that it will move to httpx2; it works the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

board_target = boardkit.board_target
board_key = boardkit.board_key

PASSWORD = "correct horse battery staple"
# When the tests' world begins: a departure a day before, so that the first legs' p90 windows
# (a day or two) are ahead at first and behind once the clock moves on a few days.
START = dt.datetime(2025, 3, 2, 9, 0, tzinfo=dt.UTC)
DEPARTURE = "2025-03-01"
ORIGIN = "hyesan"
# The client address the test client reports (Starlette's default).
ADDRESS = "testclient"
USERS = {
    "coord": "coordinator",
    "p1": "partner",
    "p2": "partner",
    "aud": "auditor",
}


class Clock:
    """Now, as the board and the router see it; the test moves it."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class World:
    """A board with four accounts and an app over it, on one backend."""

    board: Board
    clock: Clock
    app: Any
    totp_secret: str
    # Where the board is and its key, to open it again as another server process would.
    target: tuple[str, str | None]
    key: BoardKey

    def client(self, **kwargs: Any) -> TestClient:
        return TestClient(self.app, **kwargs)

    def login(self, name: str, client: TestClient | None = None, **extra: Any) -> Session:
        http = client if client is not None else self.client()
        response = http.post("/board/api/login", json={"name": name, "password": PASSWORD, **extra})
        assert response.status_code == 200, response.text
        return Session(http, response.json()["csrf"], response)


@dataclass
class Session:
    """A logged-in test client and its CSRF token."""

    http: TestClient
    csrf: str
    response: Any

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        headers = {CSRF_HEADER: self.csrf, **kwargs.pop("headers", {})}
        return self.http.post(path, json=body, headers=headers, **kwargs)


def make_world(target: tuple[str, str | None], key: BoardKey, **options: Any) -> World:
    path, schema = target
    clock = Clock()
    board = Board.init(path, key, schema=schema)
    board.clock = clock
    for name, role in USERS.items():
        board.add_user(Board.LOCAL, name, role, PASSWORD)
    secret = new_totp_secret()
    board.add_user(Board.LOCAL, "twofa", "coordinator", PASSWORD, totp_secret=secret)
    return World(board, clock, board_app(board, clock=clock, **options), secret, target, key)


@pytest.fixture
def world(board_target: tuple[str, str | None], board_key: BoardKey) -> Iterator[World]:
    w = make_world(board_target, board_key)
    try:
        yield w
    finally:
        w.board.close()


def new_journey(s: Session, partner: str | None = None) -> dict[str, Any]:
    body = {"from": ORIGIN, "date": DEPARTURE, "group": "2w,1c", "partner": partner}
    response = s.post("/board/api/journeys", body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def api_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) of the board's API, as the router has them."""
    out = []
    for route in app.state.board_router.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/board/api/"):
            out.extend((method, route.path) for method in sorted(route.methods))
    return sorted(out)


# --- the route tables -------------------------------------------------------------------------

# A valid body for each route that takes one (the journey code goes in the path).
BODIES: dict[tuple[str, str], Callable[[], Any]] = {
    ("POST", "/board/api/login"): lambda: {"name": "coord", "password": PASSWORD},
    ("POST", "/board/api/logout"): lambda: None,
    ("GET", "/board/api/session"): lambda: None,
    ("GET", "/board/api/meta"): lambda: None,
    ("GET", "/board/api/journeys"): lambda: None,
    ("POST", "/board/api/journeys"): lambda: {"from": ORIGIN, "date": DEPARTURE, "group": "1w"},
    ("GET", "/board/api/journeys/{code}"): lambda: None,
    ("POST", "/board/api/journeys/{code}/checkins"): lambda: {"leg": 1, "status": "ok"},
    ("POST", "/board/api/journeys/{code}/replan"): lambda: {
        "from": "changbai",
        "date": "2025-03-02",
    },
    ("POST", "/board/api/journeys/{code}/status"): lambda: {"status": "safe"},
    ("POST", "/board/api/journeys/{code}/assign"): lambda: {"partner": "p1"},
    ("GET", "/board/api/overdue"): lambda: None,
    ("GET", "/board/api/audit"): lambda: None,
    ("GET", "/board/api/audit/verify"): lambda: None,
    ("POST", "/board/api/users"): lambda: {
        "name": f"u{new_code()[:4].lower()}",
        "role": "partner",
        "password": PASSWORD,
    },
}
PUBLIC = {("POST", "/board/api/login")}
# Routes on one journey: each is tried on the user's own, another partner's and a missing one.
ON_A_JOURNEY = sorted(k for k in BODIES if "{code}" in k[1])
# What each role gets at each route (on a journey it may see, for the journey routes):
# "ok" (2xx) or a status. The service decides; this is what it must decide.
ALLOWED: dict[str, dict[tuple[str, str], int | str]] = {
    "coordinator": dict.fromkeys(BODIES, "ok"),
    "auditor": {
        **dict.fromkeys(BODIES, "ok"),
        ("POST", "/board/api/journeys"): 403,
        ("POST", "/board/api/journeys/{code}/checkins"): 403,
        ("POST", "/board/api/journeys/{code}/replan"): 403,
        ("POST", "/board/api/journeys/{code}/status"): 403,
        ("POST", "/board/api/journeys/{code}/assign"): 403,
        ("POST", "/board/api/users"): 403,
    },
    "partner": {
        **dict.fromkeys(BODIES, "ok"),
        ("POST", "/board/api/journeys"): 403,
        ("POST", "/board/api/journeys/{code}/replan"): 403,
        ("POST", "/board/api/journeys/{code}/status"): 403,
        ("POST", "/board/api/journeys/{code}/assign"): 403,
        ("GET", "/board/api/audit"): 403,
        ("GET", "/board/api/audit/verify"): 403,
        ("POST", "/board/api/users"): 403,
    },
}


def call(s: Session | TestClient, method: str, path: str, code: str = "X") -> Any:
    url = path.replace("{code}", code)
    body = BODIES[(method, path)]()
    if isinstance(s, Session):
        return s.post(url, body) if method == "POST" else s.get(url)
    return s.request(method, url, json=body)


def same_answer(a: Any, b: Any, codes: tuple[str, str]) -> bool:
    """Whether two answers are the same but for the journey code they name."""
    if a.status_code != b.status_code:
        return False
    return a.json()["detail"].replace(codes[0], "CODE") == b.json()["detail"].replace(
        codes[1], "CODE"
    )


def test_every_route_is_in_the_tables(world: World) -> None:
    assert api_routes(world.app) == sorted(BODIES)
    for role in ALLOWED.values():
        assert set(role) == set(BODIES)


# --- no session, pages, static files ------------------------------------------------------------


def test_without_a_session_every_api_route_but_login_answers_401(world: World) -> None:
    http = world.client()
    forged = world.client(cookies={COOKIE: "A" * 43})
    for method, path in api_routes(world.app):
        if (method, path) in PUBLIC:
            continue
        for client in (http, forged):
            response = call(client, method, path, new_code())
            assert response.status_code == 401, (method, path, response.text)
            assert set(response.json()) == {"detail"} and "log in" in response.json()["detail"]
            assert response.headers["cache-control"] == "no-store"


def test_pages_redirect_to_the_login_without_a_session_and_hold_no_data(world: World) -> None:
    http = world.client(follow_redirects=False)
    for path in ["/board", *(f"/board{p}" for p in PAGES)]:
        response = http.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/board/login"
    login = http.get("/board/login")
    assert login.status_code == 200 and "text/html" in login.headers["content-type"]
    csp = login.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    # The pages are shells: no script inline, every address on this server.
    s = world.login("coord", http)
    for path in PAGES:
        page = s.get(f"/board{path}")
        assert page.status_code == 200, path
        html = page.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html), path
        for ref in re.findall(r"""(?:src|href)="([^"#]+)""", html):
            if ref == "data:,":  # the empty icon: nothing is fetched
                continue
            assert ref.startswith("/"), (path, ref)
            assert s.get(ref).status_code == 200, (path, ref)


def test_answers_that_hold_board_data_are_not_cached(world: World) -> None:
    http = world.client()
    login = http.post("/board/api/login", json={"name": "coord", "password": PASSWORD})
    assert login.status_code == 200 and login.headers["cache-control"] == "no-store"
    s = Session(http, login.json()["csrf"], login)
    code = new_journey(s, "p1")["code"]
    for path in ("/board/api/session", "/board/api/journeys", f"/board/api/journeys/{code}"):
        answer = s.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["cache-control"] == "no-store", path
    page = s.get("/board/journeys")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"


def test_board_pages_carry_the_dashboards_content_security_policy(world: World) -> None:
    from nkescape.web.app import CONTENT_SECURITY_POLICY

    s = world.login("coord")
    for path in ("/board/login", "/board/journeys", "/board/static/js/api.js"):
        csp = s.get(path).headers["content-security-policy"]
        assert csp == CONTENT_SECURITY_POLICY, path
        directives = {d.strip() for d in csp.split(";")}
        # No plugins, no <base> to move relative script addresses, no framing (clickjacking).
        assert {"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} <= directives


def test_static_files_are_a_fixed_list(world: World) -> None:
    http = world.client()
    assert http.get("/board/static/js/api.js").headers["content-type"].startswith("text/javascript")
    for bad in ("../routes.py", "..%2froutes.py", "js/../../routes.py", "nope.js"):
        assert http.get(f"/board/static/{bad}").status_code == 404, bad


# --- login, logout, cookies -------------------------------------------------------------------


def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(world: World) -> None:
    s = world.login("coord")
    cookie = s.response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/board"} <= flags
    assert "secure" not in flags  # plain HTTP on loopback: a Secure cookie would never come back
    assert not any(f.startswith(("max-age", "expires")) for f in flags)  # gone with the browser
    token = s.http.cookies[COOKIE]
    assert len(token) == 43  # 256 random bits, base64url
    assert s.get("/board/api/session").json()["user"] == "coord"
    out = s.post("/board/api/logout")
    assert out.status_code == 204
    assert "max-age=0" in out.headers["set-cookie"].lower()
    # The old token is worthless: the server deleted its session.
    replay = world.client(cookies={COOKIE: token})
    assert replay.get("/board/api/session").status_code == 401


def test_the_cookie_is_secure_over_tls_or_when_configured(world: World) -> None:
    tls = world.login("coord", world.client(base_url="https://testserver"))
    assert "secure" in tls.response.headers["set-cookie"].lower()
    assert tls.get("/board/api/session").status_code == 200
    # Behind a TLS proxy that does not say so: the flag marks it Secure over plain HTTP too.
    flagged = board_app(world.board, clock=world.clock, secure_cookies=True)
    s = world.login("coord", TestClient(flagged))
    assert "secure" in s.response.headers["set-cookie"].lower()


def test_a_new_login_replaces_the_browsers_old_session(world: World) -> None:
    s = world.login("coord")
    old = s.http.cookies[COOKIE]
    world.login("coord", s.http)
    assert s.http.cookies[COOKIE] != old
    assert world.client(cookies={COOKIE: old}).get("/board/api/session").status_code == 401


def test_unknown_user_and_wrong_password_get_the_same_answer(world: World) -> None:
    http = world.client()
    wrong = http.post("/board/api/login", json={"name": "coord", "password": "not it at all"})
    unknown = http.post("/board/api/login", json={"name": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": auth.LOGIN_FAILED}
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers


def test_the_login_refuses_other_sites(world: World) -> None:
    http = world.client()
    body = {"name": "coord", "password": PASSWORD}
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = http.post("/board/api/login", json=body, headers=headers)
        assert response.status_code == 403, headers
    ok = http.post("/board/api/login", json=body, headers={"Origin": "http://testserver"})
    assert ok.status_code == 200


def test_logins_and_logouts_are_audited_without_secrets(world: World) -> None:
    http = world.client()
    typed = {"wrong": "not my password 42", "name": "mypasswordhere"}
    http.post("/board/api/login", json={"name": "coord", "password": typed["wrong"]})
    http.post("/board/api/login", json={"name": typed["name"], "password": PASSWORD})
    s = world.login("coord")
    assert s.post("/board/api/logout").status_code == 204
    s = world.login("coord")
    rows = s.get("/board/api/audit").json()["rows"]
    seen = [(r["actor"], r["action"], r["detail"]) for r in rows if r["action"].startswith("log")]
    assert seen == [
        ("coord", auth.AUDIT_LOGIN_FAILED, "wrong password"),
        (auth.UNKNOWN_ACCOUNT, auth.AUDIT_LOGIN_FAILED, None),
        ("coord", auth.AUDIT_LOGIN, None),
        ("coord", auth.AUDIT_LOGOUT, None),
        ("coord", auth.AUDIT_LOGIN, None),
    ]
    text = repr(rows)
    assert all(secret not in text for secret in (PASSWORD, *typed.values(), ADDRESS))


# --- throttling -------------------------------------------------------------------------------


def test_failed_logins_wait_longer_each_time_and_say_when_to_retry(world: World) -> None:
    http = world.client()
    wrong = {"name": "coord", "password": "wrong password here"}
    right = {"name": "coord", "password": PASSWORD}
    for _ in range(ACCOUNT_FREE_FAILURES):
        assert http.post("/board/api/login", json=wrong).status_code == 401
    waits = []
    for _ in range(4):
        held = http.post("/board/api/login", json=right)  # even the right password waits
        assert held.status_code == 429, held.text
        wait = int(held.headers["retry-after"])
        assert f"{wait} s" in held.json()["detail"]
        waits.append(wait)
        world.clock.advance(seconds=wait - 0.5)
        assert http.post("/board/api/login", json=right).status_code == 429  # not yet
        world.clock.advance(seconds=0.5)
        assert http.post("/board/api/login", json=wrong).status_code == 401
    assert waits == [1, 2, 4, 8]
    world.clock.advance(seconds=16)
    assert http.post("/board/api/login", json=right).status_code == 200
    # A success clears the account's count: the next mistake is free again.
    assert http.post("/board/api/login", json=wrong).status_code == 401
    assert http.post("/board/api/login", json=right).status_code == 200


def test_one_address_guessing_many_accounts_is_slowed_too(world: World) -> None:
    guesser = world.client(client=("203.0.113.9", 40000))
    for i in range(ADDRESS_FREE_FAILURES):
        name = f"user{i}"  # a new name each time: no account reaches its own limit
        response = guesser.post("/board/api/login", json={"name": name, "password": "guess"})
        assert response.status_code == 401
    held = guesser.post("/board/api/login", json={"name": "coord", "password": PASSWORD})
    assert held.status_code == 429
    # Another address is not held back by this one's failures.
    assert world.login("coord", world.client(client=("198.51.100.7", 40000)))


def test_the_delay_doubles_up_to_its_cap() -> None:
    throttle = Throttle(3, first_s=1.0, max_s=MAX_DELAY_S)
    delays = [throttle.delay(n) for n in range(40)]
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3:8] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert max(delays) == MAX_DELAY_S and delays[-1] == MAX_DELAY_S
    assert delays == sorted(delays)
    # ASVS 2.2.1: no more than 100 failed attempts an hour on one account.
    now, tries = 0.0, 0
    while now < 3600:
        throttle.failed("a", now)
        tries += 1
        now += max(throttle.wait("a", now), 1e-9)
    assert tries < 100


def test_the_throttle_forgets_and_bounds_its_memory() -> None:
    throttle = LoginThrottle(account=Throttle(1, forget_s=10.0, max_keys=3))
    throttle.failed("Alice ", "a", 0.0)
    assert throttle.wait("alice", "b", 0.5) > 0  # names differing in case and spaces: one count
    assert throttle.wait("alice", "b", 10.0) == 0  # forgotten
    for name in "wxyz":
        throttle.account.failed(name, 20.0)
    assert throttle.account.failures("w") == 0 and throttle.account.failures("z") == 1


# --- TOTP -------------------------------------------------------------------------------------


def test_totp_is_asked_for_checked_and_not_replayed(world: World) -> None:
    http = world.client()
    body = {"name": "twofa", "password": PASSWORD}
    asked = http.post("/board/api/login", json=body)
    assert asked.status_code == 401 and asked.headers["x-board-second-factor"] == "required"
    assert "set-cookie" not in asked.headers
    # A wrong password is the generic answer, without saying the account has a second factor.
    wrong = http.post("/board/api/login", json={**body, "password": "wrong password x"})
    assert wrong.json() == {"detail": auth.LOGIN_FAILED}
    assert "x-board-second-factor" not in wrong.headers
    code = totp_code(world.totp_secret, world.clock())
    bad = f"{(int(code) + 1) % 10**6:06d}"
    assert http.post("/board/api/login", json={**body, "totp": bad}).status_code == 401
    s = world.login("twofa", totp=code)
    assert s.get("/board/api/session").json()["user"] == "twofa"
    # The same code again, in its own step or the next (within the drift): refused.
    replay = world.client().post("/board/api/login", json={**body, "totp": code})
    assert replay.status_code == 401
    world.clock.advance(seconds=TOTP_STEP_S)
    replay = world.client().post("/board/api/login", json={**body, "totp": code})
    assert replay.status_code == 401
    # One step of drift is allowed for a code not used yet...
    world.clock.advance(seconds=TOTP_STEP_S)
    step = dt.timedelta(seconds=TOTP_STEP_S)
    behind = totp_code(world.totp_secret, world.clock() - step)
    assert behind != code
    assert world.login("twofa", totp=behind)
    # ...two are not.
    world.clock.advance(seconds=5 * TOTP_STEP_S)
    stale = totp_code(world.totp_secret, world.clock() - 2 * step)
    refused = world.client().post("/board/api/login", json={**body, "totp": stale})
    assert refused.status_code == 401 and refused.json() == {"detail": auth.LOGIN_FAILED}
    ahead = totp_code(world.totp_secret, world.clock() + step)
    assert world.login("twofa", totp=ahead)


def test_a_used_totp_code_is_refused_by_another_server_process(world: World) -> None:
    body = {"name": "twofa", "password": PASSWORD}
    code = totp_code(world.totp_secret, world.clock())
    assert world.login("twofa", totp=code)
    _, record = world.board.user("twofa") or (None, {})
    assert record[auth.TOTP_STEP_FIELD] == int(world.clock().timestamp()) // TOTP_STEP_S
    # The board opened again, with its own vault connection and authenticator: what a restarted
    # server, or a second worker process, starts with. Nothing of the first one's memory.
    path, schema = world.target
    again = Board.open(path, world.key, schema=schema)
    try:
        again.clock = world.clock
        other = TestClient(board_app(again, clock=world.clock))
        replay = other.post("/board/api/login", json={**body, "totp": code})
        assert replay.status_code == 401 and replay.json() == {"detail": auth.LOGIN_FAILED}
        # A code of the step before (within the drift, never used) is older than the used one.
        step = dt.timedelta(seconds=TOTP_STEP_S)
        older = totp_code(world.totp_secret, world.clock() - step)
        assert other.post("/board/api/login", json={**body, "totp": older}).status_code == 401
        # The next step's code works there, once; and then the first server refuses it too,
        # though its own memory holds only the older step.
        world.clock.advance(seconds=TOTP_STEP_S)
        newer = totp_code(world.totp_secret, world.clock())
        assert world.login("twofa", TestClient(other.app), totp=newer)
        late = world.client().post("/board/api/login", json={**body, "totp": newer})
        assert late.status_code == 401 and late.json() == {"detail": auth.LOGIN_FAILED}
    finally:
        again.close()


def test_a_totp_claim_rereads_the_record_and_undoes_no_change(world: World) -> None:
    steps = auth.TotpSteps(world.board.vault)
    now = int(world.clock().timestamp()) // TOTP_STEP_S
    # A password changed between the login's check and its claim stays changed.
    world.board.set_password(Board.LOCAL, "twofa", "a brand new passphrase")
    assert steps.claim("twofa", world.totp_secret, now)
    assert world.board.verify_password("twofa", "a brand new passphrase") is not None
    assert not steps.claim("twofa", world.totp_secret, now)
    # A secret replaced meanwhile (a lost phone), or an account removed meanwhile: refused.
    assert not auth.TotpSteps(world.board.vault).claim("twofa", new_totp_secret(), now + 1)
    world.board.remove_user(Board.LOCAL, "twofa")
    assert not auth.TotpSteps(world.board.vault).claim("twofa", world.totp_secret, now + 2)


def test_totp_codes_match_rfc_6238() -> None:
    # RFC 6238 appendix B, SHA-1, secret "12345678901234567890", truncated to 6 digits.
    import base64

    secret = base64.b32encode(b"12345678901234567890").decode()
    for seconds, code in ((59, "287082"), (1111111109, "081804"), (2000000000, "279037")):
        assert totp_code(secret, dt.datetime.fromtimestamp(seconds, dt.UTC)) == code


def _token_needles(*tokens: str) -> list[bytes]:
    """A token as text, as its random bytes, and as their hex: none may lie at rest."""
    out = []
    for token in tokens:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        out += [token.encode(), token.encode("utf-16-le"), raw, raw.hex().encode()]
    return out


def test_a_live_session_token_is_not_stored(world: World) -> None:
    s = world.login("coord")
    token = s.http.cookies[COOKIE]
    assert s.get("/board/api/session").status_code == 200  # live, and looked up
    path, schema = world.target
    with boardkit.RawDB(path, schema, world.key) as db:
        assert db.execute("SELECT count(*) FROM board_sessions") == [(1,)]
        # Every cell of every table, as the database gives it back (the rows an admin sees).
        at_rest = b"".join(
            repr(row).encode()
            + b"".join(bytes(v) for v in row if isinstance(v, bytes | memoryview))
            for table in ("board_meta", "board_users", "board_sessions", "board_audit")
            for row in db.execute(f"SELECT * FROM {table}")
        )
    if schema is None:
        # Below SQLCipher too: every page of the file and of its WAL, decrypted.
        at_rest += boardkit.board_files_bytes(Path(path))
        at_rest += boardkit.sqlcipher_plaintext(Path(path), world.key)
    # The search sees the session's row: its index, the token's HMAC, is there.
    assert world.board.vault._session_ix(token) in at_rest
    for needle in _token_needles(token, s.csrf):
        assert needle not in at_rest, needle


# --- sessions expire --------------------------------------------------------------------------


def test_a_session_ends_after_its_idle_timeout(world: World) -> None:
    s = world.login("coord")
    token = s.http.cookies[COOKIE]
    step = IDLE_TIMEOUT - dt.timedelta(minutes=1)
    for _ in range(3):  # used within the timeout: it lives on
        world.clock.advance(seconds=step.total_seconds())
        assert s.get("/board/api/session").status_code == 200
    world.clock.advance(seconds=IDLE_TIMEOUT.total_seconds() + 1)
    assert s.get("/board/api/session").status_code == 401
    assert world.board.vault.session(token) is None  # deleted, not only refused


def test_a_session_ends_at_its_absolute_lifetime_however_used(world: World) -> None:
    s = world.login("coord")
    info = s.get("/board/api/session").json()
    assert dt.datetime.fromisoformat(info["ends"]) == START + ABSOLUTE_LIFETIME
    step = IDLE_TIMEOUT / 2
    while world.clock() + step < START + ABSOLUTE_LIFETIME:
        world.clock.advance(seconds=step.total_seconds())
        assert s.get("/board/api/session").status_code == 200
    world.clock.now = START + ABSOLUTE_LIFETIME
    assert s.get("/board/api/session").status_code == 401


def test_expired_sessions_are_swept_from_the_vault(world: World) -> None:
    idle = world.login("p1")
    token = idle.http.cookies[COOKIE]
    world.clock.advance(seconds=IDLE_TIMEOUT.total_seconds() + 1)
    assert world.board.vault.session(token) is not None  # not yet looked at
    world.login("coord")  # every login sweeps
    assert world.board.vault.session(token) is None


# --- CSRF -------------------------------------------------------------------------------------


def test_every_change_without_the_csrf_token_is_refused(world: World) -> None:
    s = world.login("coord")
    code = new_journey(s)["code"]
    for method, path in api_routes(world.app):
        if method == "GET" or (method, path) in PUBLIC:
            continue
        url = path.replace("{code}", code)
        body = BODIES[(method, path)]()
        for headers in ({}, {CSRF_HEADER: "x" * 43}, {CSRF_HEADER: ""}):
            response = s.http.request(method, url, json=body, headers=headers)
            assert response.status_code == 403, (path, headers, response.text)
            assert CSRF_HEADER in response.json()["detail"]
        cross = s.post(url, body, headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403, path
    # Nothing was changed by the refused requests.
    journey = s.get(f"/board/api/journeys/{code}").json()
    assert journey["checkins"] == [] and journey["status"] == "planned"
    # Another session's token is not this one's.
    other = world.login("coord")
    assert other.csrf != s.csrf
    swapped = s.http.post(
        f"/board/api/journeys/{code}/status",
        json={"status": "safe"},
        headers={CSRF_HEADER: other.csrf},
    )
    assert swapped.status_code == 403
    assert s.post(f"/board/api/journeys/{code}/status", {"status": "safe"}).status_code == 200


# --- roles at every endpoint ------------------------------------------------------------------


def test_each_role_at_every_endpoint(world: World) -> None:
    coord = world.login("coord")
    mine = new_journey(coord, partner="p1")["code"]
    theirs = new_journey(coord, partner="p2")["code"]
    missing = new_code()
    sessions = {"coordinator": coord, "partner": world.login("p1"), "auditor": world.login("aud")}
    for role, s in sessions.items():
        for key, expected in ALLOWED[role].items():
            if key in PUBLIC or key == ("POST", "/board/api/logout"):
                continue
            method, path = key
            # coordinators and auditors see every journey; the partner p1 only `mine`
            response = call(s, method, path, mine)
            if expected == "ok":
                assert response.status_code < 300, (role, key, response.text)
            else:
                assert response.status_code == expected, (role, key, response.text)
                assert set(response.json()) == {"detail"}
            if key in ON_A_JOURNEY and role == "partner":
                # Another partner's journey: the same answer as a journey that does not exist.
                other = call(s, method, path, theirs)
                absent = call(s, method, path, missing)
                assert same_answer(other, absent, (theirs, missing)), (key, other.text)
                if expected == "ok":
                    assert other.status_code == 404
    # What the partner may list holds only their own.
    p1 = sessions["partner"]
    assert [j["code"] for j in p1.get("/board/api/journeys").json()["journeys"]] == [mine]
    assert {o["code"] for o in p1.get("/board/api/overdue").json()["overdue"]} <= {mine}
    # The other partner's journey was not changed by any of the refused requests.
    untouched = coord.get(f"/board/api/journeys/{theirs}").json()
    assert untouched["checkins"] == [] and untouched["partner"] == "p2"


def test_the_auditor_writes_nothing(world: World) -> None:
    coord = world.login("coord")
    code = new_journey(coord)["code"]
    aud = world.login("aud")
    before = coord.get(f"/board/api/journeys/{code}").json()
    for key in BODIES:
        method, path = key
        if method == "POST" and key not in PUBLIC and key != ("POST", "/board/api/logout"):
            response = call(aud, method, path, code)
            assert response.status_code == 403, (key, response.text)
    after = coord.get(f"/board/api/journeys/{code}").json()
    assert after == before
    assert len(coord.get("/board/api/journeys").json()["journeys"]) == 1


def test_a_code_that_cannot_be_a_code_is_a_missing_journey(world: World) -> None:
    s = world.login("coord")
    for code in ("1", "K7QM-4XTR", "x" * 300, "..%2f"):
        response = s.get(f"/board/api/journeys/{code}")
        assert response.status_code == 404, code
        assert len(response.json()["detail"]) < 300


# --- journeys over the API --------------------------------------------------------------------


def test_a_journey_from_a_plan_check_ins_overdue_and_history(world: World) -> None:
    s = world.login("coord")
    journey = new_journey(s, partner="p1")
    legs = journey["plans"][0]["legs"]
    assert journey["status"] == "planned" and len(legs) >= 2
    assert all(0 < w["p50_days"] <= w["p90_days"] for w in legs)
    assert journey["plans"][0]["from"] == ORIGIN and journey["group_label"]
    code = journey["code"]
    # The first leg's window has passed: the journey is overdue at leg 1.
    world.clock.now = dt.datetime.fromisoformat(journey["next_due"]) + dt.timedelta(hours=5)
    s = world.login("coord")  # the clock moved past the first session's idle timeout
    seen = s.get(f"/board/api/journeys/{code}").json()
    assert seen["overdue"]["leg"] == 1 and seen["overdue"]["late_hours"] == pytest.approx(5.0)
    listed = s.get("/board/api/overdue").json()
    assert [o["code"] for o in listed["overdue"]] == [code]
    # The partner checks in at leg 1's end: no longer overdue there.
    p1 = world.login("p1")
    done = p1.post(
        f"/board/api/journeys/{code}/checkins",
        {"leg": 1, "status": "ok", "note": "crossed at dawn", "spent_usd": 120},
    ).json()
    assert done["current_leg"] == 1 and done["status"] == "at-leg"
    assert done["checkins"][0]["by"] == "p1" and done["spent_usd"][0] == 120
    assert done["overdue"] is None or done["overdue"]["leg"] == 2
    # A note that looks like a phone number is refused, in one line.
    refused = p1.post(
        f"/board/api/journeys/{code}/checkins",
        {"leg": 2, "status": "waiting", "note": "call +82 10 1234 5678"},
    )
    assert refused.status_code == 422 and "phone" in refused.json()["detail"]
    # Re-plan from where the group is: the history keeps the first plan.
    replanned = s.post(
        f"/board/api/journeys/{code}/replan",
        {"from": legs[0]["to"], "date": world.clock().date().isoformat()},
    ).json()
    assert len(replanned["plans"]) == 2 and replanned["plans"][0] == journey["plans"][0]
    closed = s.post(f"/board/api/journeys/{code}/status", {"status": "closed"}).json()
    assert closed["status"] == "closed" and closed["overdue"] is None
    rows = s.get("/board/api/audit").json()["rows"]
    assert {"journey.new", "journey.read", "checkin", "replan", "status"} <= {
        r["action"] for r in rows
    }
    assert s.get("/board/api/audit/verify").json()["rows"] == len(rows) + 1


def test_bad_input_is_422_in_one_line(world: World) -> None:
    s = world.login("coord")
    cases = [
        {"from": "atlantis", "date": DEPARTURE},
        {"from": ORIGIN, "date": "2025-13-01"},
        {"from": ORIGIN, "date": DEPARTURE, "group": "2q"},
        {"from": ORIGIN, "date": DEPARTURE, "funding": "bank"},
        {"from": ORIGIN, "date": DEPARTURE, "name": "Kim"},  # no field for names
        {"from": ORIGIN, "date": DEPARTURE, "itinerary": 0},
    ]
    for body in cases:
        response = s.post("/board/api/journeys", body)
        assert response.status_code == 422, (body, response.text)
        detail = response.json()["detail"]
        assert "\n" not in detail and detail, body
    assert s.get("/board/api/journeys").json()["journeys"] == []
    code = new_journey(s)["code"]
    checkins = [
        {"leg": 0, "status": "ok"},
        {"leg": 99, "status": "ok"},
        {"leg": 1, "status": "fine"},
        {"leg": 1, "status": "ok", "at": "yesterday"},
        {"leg": 1, "status": "ok", "at": "9999-12-31T23:59:59-23:59"},  # past year 9999 in UTC
        {"leg": 1, "status": "ok", "at": "2099-01-01T00:00:00+00:00"},  # in the future
        {"leg": 1, "status": "ok", "spent_usd": -5},
        {"leg": 1, "status": "ok", "note": "x" * 1000},
    ]
    for body in checkins:
        response = s.post(f"/board/api/journeys/{code}/checkins", body)
        assert response.status_code == 422, (body, response.text)
        assert "\n" not in response.json()["detail"]
    for now in ("soon", "0001-01-01T00:00:00+23:59"):
        assert s.get("/board/api/overdue", params={"now": now}).status_code == 422, now
    assert s.get(f"/board/api/journeys/{code}").json()["checkins"] == []


def test_users_are_added_by_coordinators_with_an_optional_second_factor(world: World) -> None:
    s = world.login("coord")
    made = s.post(
        "/board/api/users",
        {"name": "mekong", "role": "partner", "password": PASSWORD, "totp": True},
    )
    assert made.status_code == 201, made.text
    secret = made.json()["totp_secret"]
    assert made.json()["totp_uri"].startswith("otpauth://totp/")
    assert world.login("mekong", totp=totp_code(secret, world.clock()))
    dup = s.post("/board/api/users", {"name": "mekong", "role": "partner", "password": PASSWORD})
    assert dup.status_code == 409
    short = s.post("/board/api/users", {"name": "short", "role": "partner", "password": "x" * 5})
    assert short.status_code == 422 and "12" in short.json()["detail"]


def test_a_session_acts_with_the_accounts_role_as_it_is_now(world: World) -> None:
    coord = world.login("coord")
    code = new_journey(coord, partner="p1")["code"]
    s = world.login("p1")
    record = world.board.vault.user("p1")
    assert record is not None
    world.board.vault.set_user("p1", {**record, "role": "auditor"})
    # The session is the account's as it is now: an auditor, who may not check in.
    assert s.get("/board/api/session").json()["role"] == "auditor"
    response = s.post(f"/board/api/journeys/{code}/checkins", {"leg": 1, "status": "ok"})
    assert response.status_code == 403


def test_password_hashes_are_argon2id_with_the_boards_parameters(world: World) -> None:
    record = world.board.vault.user("coord")
    assert record is not None
    stored = record["password_hash"]
    assert stored.startswith(
        f"$argon2id$v=19$m={auth.HASH_MEMORY_KIB},t={auth.HASH_TIME_COST},p={auth.HASH_PARALLELISM}$"
    )
    assert auth.verify_password(stored, PASSWORD) and not auth.verify_password(stored, "x")
    assert not auth.needs_rehash(stored)
    assert not auth.verify_password("not a hash", PASSWORD)
