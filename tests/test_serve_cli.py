"""``nkescape serve`` (issue 15): it serves the dashboard on loopback, refuses what it cannot do
in one line, warns when others could reach it, and stops cleanly on Ctrl-C.

The server runs as the installed command in a subprocess, as a user runs it. Every address these
tests bind or reach is a loopback address: the warning for other addresses is tested through the
function that decides it and through the command with that function told to answer "no".
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from nkescape import __version__
from nkescape.cli import app
from nkescape.cli import serve as serve_cli

EXE = Path(sys.executable).with_name("nkescape")
ROOT = Path(__file__).resolve().parents[1]
# The server's start is imports plus one atlas load: seconds, but the 2-core CI machine runs other
# tests beside it, so the wait is generous (a server that never starts fails the test at this).
START_S = 90
# Ctrl-C waits this long at most for requests in flight (the command's own limit) plus the time
# to shut the job threads; a stop slower than this is a hang.
STOP_S = 30
_SERVING = re.compile(r"^nkescape: serving the dashboard at (http://\S+/) \(Ctrl-C to stop\)$")
runner = CliRunner()


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def client() -> httpx.Client:
    """An HTTP client that ignores proxy settings, so that requests stay on this machine."""
    return httpx.Client(trust_env=False, timeout=60)


class Served:
    """A running ``nkescape serve``: its URL, and its standard error as lines so far."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.url = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        assert proc.stderr is not None
        stream = proc.stderr
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], seconds: float) -> re.Match[str] | None:
        """The first stderr line matching ``pattern`` within ``seconds`` (None: it exited)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                return None
            self.stderr.append(line)
            if match := pattern.match(line):
                return match
        raise AssertionError(f"no line matching {pattern.pattern!r} in {seconds} s: {self.stderr}")

    def stop(self) -> int:
        """Ctrl-C, then the exit code; the rest of stderr is read into ``stderr``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"serve did not stop within {STOP_S} s of Ctrl-C") from None
        while (line := self._lines.get(timeout=STOP_S)) is not None:
            self.stderr.append(line)
        return code


def command_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a user's shell gives, without the variables that change messages."""
    drop = ("NKESCAPE_DEBUG", "NKESCAPE_PROG", "NKESCAPE_OVERLAY")
    return {k: v for k, v in os.environ.items() if k not in drop} | (extra or {})


@contextmanager
def serving(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Served]:
    """``nkescape serve ARGS`` until the block ends (Ctrl-C); ``--port 0`` unless one is given."""
    port = [] if "--port" in args else ["--port", "0"]
    proc = subprocess.Popen(
        [str(EXE), "serve", *port, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(env),
        cwd=cwd,
    )
    served = Served(proc)
    try:
        match = served.wait_for(_SERVING, START_S)
        assert match is not None, f"serve exited {proc.wait()}: {served.stderr}"
        served.url = match.group(1)
        yield served
    finally:
        if proc.poll() is None:
            served.stop()


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``nkescape serve ARGS`` expected to exit by itself (an error)."""
    return subprocess.run(
        [str(EXE), "serve", *args],
        capture_output=True,
        text=True,
        env=command_env(env),
        check=False,
        timeout=START_S,
    )


def test_serve_answers_on_a_free_loopback_port_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    with serving(cwd=tmp_path) as served:
        assert served.url.startswith("http://127.0.0.1:")
        assert not any("warning" in line for line in served.stderr), served.stderr
        with client() as http:
            meta = http.get(served.url + "api/meta")
            page = http.get(served.url)
        assert meta.status_code == 200, meta.text
        assert meta.json()["name"] == "nkescape" and meta.json()["version"] == __version__
        assert meta.json()["overlay"] is False
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        code = served.stop()
    assert code == 0, served.stderr
    assert served.stderr[-1] == "nkescape: stopped"
    assert not any("Traceback" in line for line in served.stderr), served.stderr
    assert served.proc.stdout is not None and served.proc.stdout.read() == ""


def test_ctrl_c_during_a_simulation_stops_the_server(tmp_path: Path) -> None:
    # A job far longer than the test: Ctrl-C must cancel it, not wait for it.
    body = {"from": "hyesan", "date": "2017-09-01", "runs": 100_000_000, "seed": 1}
    with serving(cwd=tmp_path) as served:
        with client() as http:
            job = http.post(served.url + "api/simulate", json=body)
            assert job.status_code == 202, job.text
            deadline = time.monotonic() + START_S
            while http.get(served.url + f"api/jobs/{job.json()['id']}").json()["state"] != (
                "running"
            ):
                assert time.monotonic() < deadline, "the job never started"
                time.sleep(0.1)
        started = time.monotonic()
        code = served.stop()
        took = time.monotonic() - started
    assert code == 0, served.stderr
    assert served.stderr[-1] == "nkescape: stopped"
    assert not any("Traceback" in line for line in served.stderr), served.stderr
    assert took < STOP_S


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_serve_takes_the_port_it_is_given_and_another_loopback_address() -> None:
    # 127.0.0.2 is loopback too (all of 127.0.0.0/8 is): no warning, nobody else can reach it.
    port = free_port()
    with serving("--host", "127.0.0.2", "--port", str(port)) as served:
        assert served.url == f"http://127.0.0.2:{port}/"
        assert not any("warning" in line for line in served.stderr), served.stderr
        with client() as http:
            assert http.get(served.url + "api/meta").status_code == 200


def test_a_busy_port_is_one_line_and_exit_1() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        proc = run_serve("--port", str(port))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert lines(proc.stderr) == [
        f"nkescape: port {port} on 127.0.0.1 is in use: stop the other server or pass --port N"
    ]


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("not-an-address", False),
    ],
)
def test_which_addresses_count_as_loopback(address: str, loopback: bool) -> None:
    assert serve_cli.is_loopback(address) is loopback


class _Recorder:
    """Stands in for the server: records what it was asked to serve, serves nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.apps: list[Any] = []

    def __call__(self, app: Any, sock: socket.socket, on_started: Any) -> None:
        self.calls.append(sock.getsockname()[:2])
        self.apps.append(app)
        sock.close()
        on_started()


def _invoke_without_serving(
    monkeypatch: pytest.MonkeyPatch, args: Sequence[str], *, loopback: bool
) -> tuple[Any, _Recorder]:
    recorder = _Recorder()
    monkeypatch.setattr(serve_cli, "_run", recorder)
    monkeypatch.setattr(serve_cli, "is_loopback", lambda _address: loopback)
    monkeypatch.delenv("NKESCAPE_OVERLAY", raising=False)
    return runner.invoke(app, ["serve", *args]), recorder


def test_an_address_others_can_reach_warns_that_there_is_no_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The command is told 127.0.0.2 is reachable from elsewhere: the same path as --host 0.0.0.0,
    # without ever listening beyond this machine.
    result, recorder = _invoke_without_serving(
        monkeypatch, ["--host", "127.0.0.2", "--port", "0"], loopback=False
    )
    assert result.exit_code == 0, result.output
    [(_, port)] = recorder.calls
    err = lines(result.stderr)
    assert err[0] == (
        f"nkescape: warning: --host 127.0.0.2 is not a loopback address and the dashboard has no "
        f"login (the board at /board has its own): anyone who can reach http://127.0.0.2:{port}/ "
        "can use it and read your overlay's places; serve on 127.0.0.1 unless you mean to share it"
    )
    assert err[1] == f"nkescape: serving the dashboard at http://127.0.0.2:{port}/ (Ctrl-C to stop)"
    assert result.stdout == ""


def test_the_loopback_address_does_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    result, recorder = _invoke_without_serving(monkeypatch, ["--port", "0"], loopback=True)
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][0] == "127.0.0.1"  # the default host
    assert "warning" not in result.stderr


def test_the_warning_is_decided_on_the_address_bound() -> None:
    # Names resolve first: "localhost" binds a loopback address and needs no warning.
    sock = serve_cli.bind("localhost", 0)
    try:
        assert serve_cli.is_loopback(sock.getsockname()[0])
    finally:
        sock.close()


def test_open_opens_the_served_address_in_the_browser(tmp_path: Path) -> None:
    # $BROWSER is how Python's webbrowser module is told which browser to run: here a script
    # that writes down the address it was given.
    seen = tmp_path / "opened.txt"
    script = tmp_path / "browser.py"
    script.write_text(
        f"import sys, pathlib\npathlib.Path({str(seen)!r}).write_text(sys.argv[1])\n",
        encoding="utf-8",
    )
    with serving("--open", env={"BROWSER": f"{sys.executable} {script} %s"}) as served:
        deadline = time.monotonic() + START_S
        while not seen.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seen.read_text(encoding="utf-8") == served.url


def test_overlays_from_the_environment_and_the_option_are_layered_in_order(
    tmp_path: Path,
) -> None:
    # $NKESCAPE_OVERLAY first, then each --overlay: the second renames the first's place.
    example = ROOT / "examples" / "overlay"
    place = yaml.safe_load((example / "places.yaml").read_text(encoding="utf-8"))["places"][0]
    second = tmp_path / "second"
    second.mkdir()
    renamed = dict(place, name="Tonghua (the second overlay)")
    (second / "places.yaml").write_text(yaml.safe_dump({"places": [renamed]}), encoding="utf-8")
    env = {"NKESCAPE_OVERLAY": str(example)}
    with serving("--overlay", str(second), env=env) as served, client() as http:
        meta = http.get(served.url + "api/meta").json()
        atlas = http.get(served.url + "api/atlas").json()
    assert meta["overlay"] is True
    [shown] = [p for p in atlas["places"] if p["id"] == place["id"]]
    assert shown["name"] == renamed["name"]
    # examples/overlay lies in this repository's work tree: the loader's warning, on stderr.
    warnings = [line for line in served.stderr if line.startswith("nkescape: warning: overlay")]
    assert len(warnings) == 1 and "git work tree" in warnings[0], served.stderr


def test_a_bad_overlay_is_named_and_exits_1(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-overlay"
    proc = run_serve("--port", "0", "--overlay", str(missing))
    assert proc.returncode == 1
    assert proc.stdout == ""
    err = lines(proc.stderr)
    # The atlas's problems, one a line, as every command lists them; then the one-line verdict.
    assert err[-1] == "nkescape: the atlas has 1 problem (listed above)"
    assert len(err) == 2 and str(missing) in err[0], err
    assert "Traceback" not in proc.stderr and "serving" not in proc.stderr


def test_an_overlay_with_a_bad_entry_names_the_file(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "places.yaml").write_text("places:\n  - id: hideout\n", encoding="utf-8")
    proc = run_serve("--port", "0", "--overlay", str(overlay))
    assert proc.returncode == 1
    err = lines(proc.stderr)
    assert err[-1].startswith("nkescape: the atlas has ") and err[-1].endswith("(listed above)")
    assert all(line.startswith(str(overlay / "places.yaml")) for line in err[:-1]), err
    assert "Traceback" not in proc.stderr


def test_an_explicit_flows_folder_without_a_fit_is_one_line(tmp_path: Path) -> None:
    proc = run_serve("--port", "0", "--flows", str(tmp_path))
    assert proc.returncode == 1
    assert lines(proc.stderr) == [
        f"nkescape: --flows {tmp_path}: no saved fit there (posterior.json); run `nkescape flows "
        f"fit --out {tmp_path}` first, or leave --flows out"
    ]


@pytest.mark.parametrize(
    ("args", "option"), [(["--port", "70000"], "--port"), (["--port", "web"], "--port")]
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], option: str) -> None:
    result = runner.invoke(app, ["serve", *args])
    assert result.exit_code == 2, result.output
    err = lines(result.stderr)
    assert len(err) == 1 and option in err[0] and err[0].endswith("--help)"), err


def test_help_loads_neither_the_server_nor_the_library() -> None:
    code = (
        "import sys\nfrom nkescape.cli import main\nsys.argv = ['nkescape', 'serve', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('uvicorn', 'fastapi', 'nkescape.web', 'numpy', 'matplotlib')\n"
        "print(' '.join(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert proc.stderr.split() == []
    assert "--host" in proc.stdout and "no login" in " ".join(proc.stdout.split())


def test_serve_with_a_board_puts_it_behind_its_login(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from nkescape.board.crypto import BoardKey, new_key_file
    from nkescape.board.service import Board

    key_file, db = tmp_path / "board.key", tmp_path / "board.db"
    new_key_file(key_file)
    Board.init(str(db), BoardKey.from_key_file(key_file)).close()
    args = ["--port", "0", "--board", str(db), "--key-file", str(key_file)]
    result, recorder = _invoke_without_serving(monkeypatch, args, loopback=True)
    assert result.exit_code == 0, result.output
    [(_, port)] = recorder.calls
    assert lines(result.stderr)[-1] == (
        f"nkescape: the coordination board is at http://127.0.0.1:{port}/board/login"
    )
    client = TestClient(recorder.apps[0])
    assert client.get("/board/api/journeys").status_code == 401
    assert client.get("/board/login").status_code == 200
    assert client.get("/api/meta").status_code == 200


def test_serve_refuses_a_board_with_the_wrong_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from nkescape.board.crypto import BoardKey, new_key_file
    from nkescape.board.service import Board

    right, wrong, db = tmp_path / "right.key", tmp_path / "wrong.key", tmp_path / "board.db"
    new_key_file(right)
    new_key_file(wrong)
    Board.init(str(db), BoardKey.from_key_file(right)).close()
    args = ["--port", "0", "--board", str(db), "--key-file", str(wrong)]
    result, recorder = _invoke_without_serving(monkeypatch, args, loopback=True)
    assert result.exit_code == 1 and recorder.calls == []
    assert lines(result.stderr) == [
        f"nkescape: wrong passphrase or key file for the board at {db}; nothing was changed"
    ]
