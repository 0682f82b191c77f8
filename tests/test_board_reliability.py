"""The board's storage under crashes and contention: kill -9 mid-write, 50 concurrent writers.

* A subprocess writes check-in events and audit rows as fast as it can, printing a line after each
  commit; the test kills it with SIGKILL at a random moment, reopens the board, and finds every
  acknowledged write, the integrity check and the audit chain intact. Twenty times on SQLite
  (synchronous=FULL is what makes an acknowledged write durable), five on PostgreSQL.
* Fifty writers (threads, and processes for SQLite's cross-process locking) add events to the
  same three journeys and rows to the audit log: no update is lost, numbers are unique and
  contiguous, no "database is locked" reaches a caller, the chain verifies.

Figures (runs, acknowledged writes, throughput) go to the report with ``-rP`` / ``-s``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from nkescape.board.crypto import BoardKey, new_key_file
from nkescape.board.vault import Vault

from . import boardkit

board_target = boardkit.board_target
board_key = boardkit.board_key

pytestmark = pytest.mark.slow

# Fixed seeds: the kill moments and the writers' interleaving requests are reproducible.
KILL_SEED = 20251201
# Kill runs per backend: the issue asks for 20; PostgreSQL's crash safety is the server's, so a
# few runs show the vault's side (acknowledge after commit) holds there too.
KILL_RUNS = {"sqlite": 20, "postgres": 5}
# How long after the writer's first acknowledgement the kill comes: long enough for tens to
# hundreds of commits, short enough for 20 runs in well under 30 s.
KILL_AFTER_S = (0.05, 0.4)
# A writer that has not started within this long is stuck, not slow.
WRITER_START_TIMEOUT_S = 60.0
# Contention: writers, the writes each makes, the journeys they share.
WRITERS = 50
WRITES_EACH = 10
SHARED_JOURNEYS = 3
# The process variant: processes x threads = WRITERS.
PROCESSES = 5
THREADS_PER_PROCESS = WRITERS // PROCESSES

WRITER = r"""
import sys
from pathlib import Path
from nkescape.board.crypto import BoardKey
from nkescape.board.vault import Vault

target, schema, keyfile, code, tag = sys.argv[1:6]
vault = Vault.open(target, BoardKey.from_key_file(Path(keyfile)), schema=schema or None)
print("ready", flush=True)
i = 0
while True:
    i += 1
    seq = vault.add_event(code, {"tag": tag, "i": i, "note": "x" * (i % 200)})
    print(f"event {seq} {tag} {i}", flush=True)
    row = vault.audit("writer", "journey.checkin", code, f"{tag}/{i}")
    print(f"audit {row}", flush=True)
"""

CONTENDER = r"""
import sys, threading
from pathlib import Path
from nkescape.board.crypto import BoardKey
from nkescape.board.vault import Vault

target, schema, keyfile, codes, proc, threads, writes = sys.argv[1:8]
codes = codes.split(",")
vault = Vault.open(target, BoardKey.from_key_file(Path(keyfile)), schema=schema or None)
start = threading.Barrier(int(threads) + 1)
errors = []

def work(t):
    start.wait()
    for i in range(int(writes)):
        try:
            vault.add_event(codes[(t + i) % len(codes)], {"w": f"{proc}/{t}", "i": i})
            vault.audit(f"w{proc}/{t}", "journey.checkin", codes[0], str(i))
        except Exception as exc:
            errors.append(repr(exc))

pool = [threading.Thread(target=work, args=(t,)) for t in range(int(threads))]
for th in pool:
    th.start()
print("ready", flush=True)
sys.stdin.readline()  # the parent releases every process at once
start.wait()
for th in pool:
    th.join()
vault.close()
print("errors", len(errors), *errors[:3], flush=True)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env


def _new_board(
    target: str, schema: str | None, tmp_path: Path, codes: list[str]
) -> tuple[Path, BoardKey]:
    keyfile = tmp_path / "writer.key"
    new_key_file(keyfile)
    key = BoardKey.from_key_file(keyfile)
    with Vault.create(target, key, schema=schema) as vault:
        for code in codes:
            vault.add_journey(code, {"group": {"women": 1}}, partner=None)
    return keyfile, key


def _kill_one_writer(
    target: str, schema: str | None, keyfile: Path, code: str, tag: str, delay: float
) -> tuple[list[tuple[int, int]], list[int]]:
    """Start a writer, SIGKILL it ``delay`` s after it is ready; its acknowledged writes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, target, schema or "", str(keyfile), code, tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    ready = threading.Event()
    lines: list[list[str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "ready":
                ready.set()
            # A line cut short by the kill was never a whole acknowledgement.
            if line.endswith("\n"):
                lines.append(line.split())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not ready.wait(WRITER_START_TIMEOUT_S):
        proc.kill()
        pytest.fail(f"the writer did not start: {proc.communicate()[1][-2000:]}")
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    events = [(int(p[1]), int(p[3])) for p in lines if p and p[0] == "event" and p[2] == tag]
    audits = [int(p[1]) for p in lines if p and p[0] == "audit"]
    return events, audits


def test_kill_9_loses_no_acknowledged_write(
    board_target: tuple[str, str | None], tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    target, schema = board_target
    backend = "sqlite" if schema is None else "postgres"
    code = "KILL-9000-TEST-0001"
    keyfile, key = _new_board(target, schema, tmp_path, [code])
    rng = random.Random(KILL_SEED)
    acked_events = acked_audits = 0
    started = time.monotonic()
    for run in range(KILL_RUNS[backend]):
        tag = f"run{run}"
        events, audits = _kill_one_writer(
            target, schema, keyfile, code, tag, rng.uniform(*KILL_AFTER_S)
        )
        assert events, "the writer was killed before its first write: lengthen KILL_AFTER_S"
        acked_events += len(events)
        acked_audits += len(audits)
        with Vault.open(target, key, schema=schema) as vault:
            vault.integrity_check()
            stored = vault.events(code)
            # Numbers are contiguous: a killed transaction left no hole and no half-row.
            by_seq = {seq: stored[seq - 1] for seq in range(1, len(stored) + 1)}
            for seq, i in events:
                assert by_seq[seq] == {"tag": tag, "i": i, "note": "x" * (i % 200)}, (run, seq)
            # At most the one write in flight at the kill is stored without its acknowledgement.
            mine = [e for e in stored if e["tag"] == tag]
            assert len(events) <= len(mine) <= len(events) + 1
            checked = vault.verify_audit()
            assert not audits or checked >= max(audits)
    elapsed = time.monotonic() - started
    record_property("kill_runs", KILL_RUNS[backend])
    record_property("acked_events", acked_events)
    print(
        f"\n[{backend}] kill -9: {KILL_RUNS[backend]} runs, {acked_events} acknowledged events and "
        f"{acked_audits} audit rows, all found after reopen; {elapsed:.1f} s"
    )


def _check_contention(vault: Vault, codes: list[str], writers: int, writes: int) -> None:
    total = 0
    for code in codes:
        events = vault.events(code)
        total += len(events)
        # Every event is present exactly once (no lost or doubled update).
        keys = Counter((e["w"], e["i"]) for e in events)
        assert all(n == 1 for n in keys.values())
    assert total == writers * writes
    assert vault.verify_audit() == writers * writes
    vault.integrity_check()


def test_fifty_threads_write_the_same_journeys(
    board_target: tuple[str, str | None], board_key: BoardKey
) -> None:
    target, schema = board_target
    codes = [f"SAME-JRNY-{i:04d}-AAAA" for i in range(SHARED_JOURNEYS)]
    errors: list[str] = []
    with Vault.create(target, board_key, schema=schema) as vault:
        for code in codes:
            vault.add_journey(code, {}, partner=None)
        start = threading.Barrier(WRITERS)

        def work(t: int) -> None:
            start.wait()
            for i in range(WRITES_EACH):
                try:
                    seq = vault.add_event(codes[(t + i) % SHARED_JOURNEYS], {"w": str(t), "i": i})
                    assert seq >= 1
                    vault.audit(f"w{t}", "journey.checkin", codes[0], str(i))
                except Exception as exc:  # any error reaching a caller fails the test
                    errors.append(repr(exc))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(WRITERS)]
        began = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.monotonic() - began
        assert errors == []
        _check_contention(vault, codes, WRITERS, WRITES_EACH)
    commits = 2 * WRITERS * WRITES_EACH
    backend = "sqlite" if schema is None else "postgres"
    print(
        f"\n[{backend}] {WRITERS} threads: {commits} commits (events + audit rows) in "
        f"{elapsed:.2f} s = {commits / elapsed:.0f} commits/s, no error reached a caller"
    )


def test_fifty_writers_in_five_processes(
    board_target: tuple[str, str | None], tmp_path: Path
) -> None:
    target, schema = board_target
    codes = [f"PROC-JRNY-{i:04d}-BBBB" for i in range(SHARED_JOURNEYS)]
    keyfile, key = _new_board(target, schema, tmp_path, codes)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CONTENDER,
                target,
                schema or "",
                str(keyfile),
                ",".join(codes),
                str(p),
                str(THREADS_PER_PROCESS),
                str(WRITES_EACH),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for p in range(PROCESSES)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    began = time.monotonic()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=WRITER_START_TIMEOUT_S) for proc in procs]
    elapsed = time.monotonic() - began
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
        assert out.split()[:2] == ["errors", "0"], out
    with Vault.open(target, key, schema=schema) as vault:
        _check_contention(vault, codes, WRITERS, WRITES_EACH)
    commits = 2 * WRITERS * WRITES_EACH
    backend = "sqlite" if schema is None else "postgres"
    print(
        f"\n[{backend}] {PROCESSES} processes x {THREADS_PER_PROCESS} threads: {commits} commits "
        f"in {elapsed:.2f} s = {commits / elapsed:.0f} commits/s, no error reached a caller"
    )
