"""Load on the board's web API: 100 logged-in users for 60 s on loopback, on each backend.

Run: .venv/bin/python benchmarks/board.py [--seconds 60] [--users 100] [--backend both]
     [--think 1,5] [--threads N] [--quick]

For each backend (an SQLCipher file; a PostgreSQL schema of its own on the test server at
127.0.0.1:5432, dropped afterwards) the benchmark makes a board with coordinators, partners, an
auditor and journeys planned from Hyesan, then starts a real uvicorn server in a subprocess on a
free port of 127.0.0.1 (the board's app, ``nkescape.web.board.board_app``), logs every simulated
user in (one session each: ``--users`` sessions over fewer accounts), and runs a bounded asyncio
client: each user, in a loop until the time is up, makes one request of the mix below, then waits
a random think time, uniform between ``--think LOW,HIGH`` seconds (the first request, too, comes
after a random pause of up to HIGH, so that users arrive spread out) (default 1-5 s, Locust's usual
``between(1, 5)``: a person reading the page between clicks; ``--think 1,1`` is one request a
second per user, ``--think 0,0`` a closed loop without pause, the server's saturation). The mix, per
request: read one journey 55%, check in 25%, list the journeys 10%, the overdue list 10%; a
partner's reads and check-ins are of the journey assigned to it, a coordinator's or auditor's of
any (the auditor's check-ins are reads: it may not write). Every journey read and every journey
in a list or overdue scan is an audited access: a durable write per journey.

It prints requests/s, latency p50/p95/p99/max over all requests and per kind, and errors (any
answer but 2xx, or no answer); target (issue 16): p95 under 200 ms and no errors on the 2-core
machine. Every request goes to the server and nowhere else (the client ignores proxy settings);
the run stops by itself: at the end of the time, every request in flight has its own timeout,
and the server is stopped even when the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from nkescape.web.board.routes import BOARD_THREADS

PASSWORD = "correct horse battery staple"
PG_URL = os.environ.get("NKESCAPE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET_P95_MS = 200.0
# Accounts behind the sessions: partners each with one journey, a few coordinators, an auditor.
PARTNERS = 20
COORDINATORS = 4
# The share of sessions that are partners' (the rest coordinators', and one auditor's): field
# partners far outnumber the coordinators on a real board.
PARTNER_SHARE = 0.8
DEPARTURE = "2025-03-01"
ORIGIN = "hyesan"
# The request mix (kind: share); they add up to 1.
MIX = {"read": 0.55, "checkin": 0.25, "list": 0.10, "overdue": 0.10}
# Bounds, so that a broken server ends the run instead of hanging it (seconds).
START_S = 120
REQUEST_S = 30
STOP_S = 30
# How long the server keeps an idle connection open: longer than any think time, so that a user's
# next request never races the server closing its connection (uvicorn's default is 5 s, the
# longest default think time; a browser retries such a request, httpx does not).
KEEP_ALIVE_S = 75
# Seeded: the same run draws the same users' choices and think times.
SEED = 16
_SERVING = "serving "


@dataclass
class Stats:
    """Latencies (ms) by kind, and the errors seen."""

    ms: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, kind: str, ms: float) -> None:
        self.ms.setdefault(kind, []).append(ms)

    @property
    def all_ms(self) -> list[float]:
        return [x for v in self.ms.values() for x in v]


def quantile(ms: list[float], q: float) -> float:
    """The ``q`` quantile of ``ms`` (inclusive method; the value itself for one sample)."""
    if len(ms) == 1:
        return ms[0]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return cuts[round(q * 100) - 1]


# --- the board and its server -----------------------------------------------------------------


@dataclass
class Setup:
    target: str
    schema: str | None
    key_file: Path
    codes: dict[str, str]  # partner -> journey code
    accounts: list[str]  # one per session


def make_board(backend: str, root: Path, journeys: int) -> Setup:
    """A new board with the accounts and journeys, closed again (the server opens it)."""
    from nkescape.board.crypto import BoardKey, new_key_file
    from nkescape.board.service import Board

    key_file = root / "board.key"
    new_key_file(key_file)
    key = BoardKey.from_key_file(key_file)
    target, schema = (
        (str(root / "board.db"), None)
        if backend == "sqlite"
        else (PG_URL, f"bench_board_{uuid.uuid4().hex[:12]}")
    )
    partners = [f"p{i:02d}" for i in range(min(PARTNERS, journeys))]
    coordinators = [f"c{i}" for i in range(COORDINATORS)]
    codes: dict[str, str] = {}
    with Board.init(target, key, schema=schema) as board:
        for name in coordinators:
            board.add_user(Board.LOCAL, name, "coordinator", PASSWORD)
        board.add_user(Board.LOCAL, "aud", "auditor", PASSWORD)
        for i in range(journeys):
            partner = partners[i] if i < len(partners) else None
            if partner is not None:
                board.add_user(Board.LOCAL, partner, "partner", PASSWORD)
            journey = board.new_journey(
                Board.LOCAL,
                start=ORIGIN,
                departure=dt.date.fromisoformat(DEPARTURE),
                group="2w,1c",
                partner=partner,
            )
            if partner is not None:
                codes[partner] = journey.code
    return Setup(target, schema, key_file, codes, [])


def sessions_for(setup: Setup, users: int) -> list[str]:
    """The account of each simulated user: partners first, then coordinators, one auditor."""
    partners = sorted(setup.codes)
    coordinators = [f"c{i}" for i in range(COORDINATORS)]
    n_partners = round(users * PARTNER_SHARE) if users > 2 else users
    out = [partners[i % len(partners)] for i in range(n_partners)]
    rest = users - n_partners
    if rest > 0:
        out += [coordinators[i % len(coordinators)] for i in range(rest - 1)] + ["aud"]
    return out


def drop_schema(schema: str) -> None:
    import psycopg

    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def server(setup: Setup, threads: int) -> Iterator[str]:
    """This script's ``--serve`` in a subprocess until the block ends; yields its URL."""
    command = [sys.executable, __file__, "--serve", setup.target, "--key", str(setup.key_file)]
    command += ["--threads", str(threads)]
    if setup.schema is not None:
        command += ["--schema", setup.schema]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    # A thread drains stdout for the server's whole life, so that it never blocks on a pipe.
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or ()], daemon=True).start()
    try:
        deadline = time.monotonic() + START_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith(_SERVING):
                yield line.removeprefix(_SERVING).strip()
                return
        raise SystemExit(f"the board server did not start within {START_S} s: exit {proc.poll()}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve(target: str, key_file: Path, schema: str | None, threads: int) -> None:
    """Open the board and serve it on a free port of 127.0.0.1 until terminated."""
    import signal
    import socket

    import uvicorn

    from nkescape.board.crypto import BoardKey
    from nkescape.board.service import Board
    from nkescape.cli.serve import LOOPBACK, bind
    from nkescape.web.board import board_app

    board = Board.open(target, BoardKey.from_key_file(key_file), schema=schema)
    # Bound as `nkescape serve` binds (getaddrinfo's protocol, IPPROTO_TCP): asyncio disables
    # Nagle's algorithm only on sockets that say they are TCP, and without it every keep-alive
    # answer waits ~40 ms for the client's delayed ACK.
    sock = bind(LOOPBACK, 0)
    url = f"http://{LOOPBACK}:{sock.getsockname()[1]}"

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            print(_SERVING + url, flush=True)

    config = uvicorn.Config(
        board_app(board, threads=threads),
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    instance = Server(config)
    signal.signal(signal.SIGTERM, lambda *_: setattr(instance, "should_exit", True))
    try:
        instance.run(sockets=[sock])
    finally:
        board.close()


# --- the client -------------------------------------------------------------------------------


@dataclass
class User:
    account: str
    http: httpx.AsyncClient
    csrf: str
    own: str | None  # a partner's journey


async def log_in(url: str, account: str, setup: Setup) -> User:
    http = httpx.AsyncClient(base_url=url, trust_env=False, timeout=REQUEST_S)
    response = await http.post("/board/api/login", json={"name": account, "password": PASSWORD})
    if response.status_code != 200:
        await http.aclose()
        raise SystemExit(f"login of {account} failed: {response.status_code} {response.text}")
    return User(account, http, response.json()["csrf"], setup.codes.get(account))


async def one_user(
    user: User,
    codes: list[str],
    end: float,
    think: tuple[float, float],
    rng: random.Random,
    stats: Stats,
) -> None:
    kinds, weights = list(MIX), list(MIX.values())
    headers = {"X-CSRF-Token": user.csrf}
    # Users arrive spread over one think time, as people do, not all in the same millisecond
    # (a burst of every user at once would measure the queue of that instant, not the load).
    await asyncio.sleep(rng.uniform(0, think[1]))
    while time.monotonic() < end:
        kind = rng.choices(kinds, weights)[0]
        code = user.own or rng.choice(codes)
        if kind == "checkin" and user.account == "aud":
            kind = "read"  # the auditor may not write
        start = time.perf_counter()
        try:
            if kind == "read":
                response = await user.http.get(f"/board/api/journeys/{code}")
            elif kind == "checkin":
                body = {"leg": 1, "status": rng.choice(("waiting", "delayed"))}
                response = await user.http.post(
                    f"/board/api/journeys/{code}/checkins", json=body, headers=headers
                )
            elif kind == "list":
                response = await user.http.get("/board/api/journeys")
            else:
                response = await user.http.get("/board/api/overdue")
            ms = 1e3 * (time.perf_counter() - start)
            if response.status_code >= 300:
                stats.errors.append(f"{kind} {response.status_code}: {response.text[:120]}")
            else:
                stats.add(kind, ms)
        except httpx.HTTPError as exc:
            stats.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
        if think[1] > 0:
            await asyncio.sleep(rng.uniform(*think))


async def load(
    url: str, setup: Setup, users: int, seconds: float, think: tuple[float, float]
) -> Stats:
    accounts = sessions_for(setup, users)
    started = time.perf_counter()
    # Logins a few at a time: each is an Argon2id verification, which the server bounds anyway.
    gate = asyncio.Semaphore(4)

    async def gated(account: str) -> User:
        async with gate:
            return await log_in(url, account, setup)

    logged = await asyncio.gather(*(gated(a) for a in accounts))
    print(f"  {len(logged)} sessions logged in in {time.perf_counter() - started:.1f} s")
    stats = Stats()
    codes = sorted(setup.codes.values())
    end = time.monotonic() + seconds
    rng = random.Random(SEED)
    try:
        await asyncio.gather(
            *(one_user(u, codes, end, think, random.Random(rng.random()), stats) for u in logged)
        )
    finally:
        await asyncio.gather(*(u.http.aclose() for u in logged))
    return stats


def report(
    backend: str, stats: Stats, users: int, seconds: float, think: tuple[float, float]
) -> bool:
    every = stats.all_ms
    n = len(every) + len(stats.errors)
    pause = f"think {think[0]:g}-{think[1]:g} s" if think[1] > 0 else "no think time"
    print(f"{backend}: {users} users for {seconds:g} s, {pause}")
    if not every:
        print(f"  no request succeeded; errors {len(stats.errors)}: {stats.errors[:3]}")
        return False
    p95 = quantile(every, 0.95)
    print(
        f"  {n} requests, {n / seconds:.1f} requests/s; latency p50 {quantile(every, 0.5):.1f} ms, "
        f"p95 {p95:.1f} ms, p99 {quantile(every, 0.99):.1f} ms, max {max(every):.1f} ms; "
        f"errors {len(stats.errors)}"
    )
    for kind in MIX:
        ms = stats.ms.get(kind, [])
        if ms:
            print(
                f"    {kind:8s} {len(ms):6d}: p50 {quantile(ms, 0.5):7.1f} ms, "
                f"p95 {quantile(ms, 0.95):7.1f} ms"
            )
    for line in sorted(set(stats.errors))[:5]:
        print(f"    error: {line}")
    met = p95 < TARGET_P95_MS and not stats.errors
    print(f"  target p95 < {TARGET_P95_MS:.0f} ms and no errors: " + ("met" if met else "NOT met"))
    return met


def run_backend(
    backend: str,
    users: int,
    seconds: float,
    think: tuple[float, float],
    journeys: int,
    threads: int,
) -> bool:
    with tempfile.TemporaryDirectory(prefix="nkescape-board-bench-") as tmp:
        started = time.perf_counter()
        setup = make_board(backend, Path(tmp), journeys)
        try:
            print(
                f"{backend}: board with {journeys} journeys made in "
                f"{time.perf_counter() - started:.1f} s"
            )
            with server(setup, threads) as url:
                stats = asyncio.run(load(url, setup, users, seconds, think))
            return report(backend, stats, users, seconds, think)
        finally:
            if setup.schema is not None:
                drop_schema(setup.schema)


def think_range(text: str) -> tuple[float, float]:
    """``LOW,HIGH`` seconds (one number: both)."""
    parts = [float(x) for x in text.split(",")]
    low, high = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    if not 0 <= low <= high or len(parts) > 2:
        raise argparse.ArgumentTypeError(
            f"--think {text!r}: give LOW,HIGH seconds, 0 <= LOW <= HIGH"
        )
    return low, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run")
    parser.add_argument("--users", type=int, default=100, help="concurrent logged-in users")
    parser.add_argument(
        "--think", type=think_range, default=(1.0, 5.0), help="pause between requests: LOW,HIGH s"
    )
    parser.add_argument(
        "--threads", type=int, default=BOARD_THREADS, help="board operations run at once"
    )
    parser.add_argument("--journeys", type=int, default=PARTNERS, help="journeys on the board")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 5 s, 10 users, 3 journeys, think 0.5-1.5 s",
    )
    parser.add_argument("--serve", metavar="TARGET", help=argparse.SUPPRESS)
    parser.add_argument("--key", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.key, args.schema, args.threads)
        return
    if args.quick:
        args.seconds, args.users, args.journeys, args.think = 5.0, 10, 3, (0.5, 1.5)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    results = [
        run_backend(b, args.users, args.seconds, args.think, args.journeys, args.threads)
        for b in backends
    ]
    print("all targets met" if all(results) else "some target NOT met")


if __name__ == "__main__":
    main()
