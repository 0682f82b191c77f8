"""``nkescape serve``: the dashboard, a web page over the library served from this machine.

The page and everything it loads come from this process (``nkescape.web``); it makes no request
elsewhere. The server binds the loopback address unless ``--host`` says otherwise, and then warns
that the dashboard has no login. The socket is bound here, before the server starts, so that a
port in use is one line and exit 1 rather than the server's log; the address is announced on
standard error once the server answers. Ctrl-C stops it (exit 0). FastAPI, uvicorn and the
library are imported inside the command, so that ``--help`` stays fast.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nkescape.cli._common import Overlay, fail, library_errors, note, overlays_from, prog, warn
from nkescape.cli.board import KeyFile, Schema
from nkescape.flows.defaults import FLOWS_OUT, POSTERIOR_FILE

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI

    from nkescape.board.service import Board

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8765
# The highest TCP port; 0 asks the system for any free one (the address line says which).
_MAX_PORT = 65535
# Ports below this need root on most systems: the error says so instead of "permission denied".
_FIRST_UNPRIVILEGED = 1024
# Connections the kernel queues while the server is busy; a page opens a handful at once.
_BACKLOG = 128
# Seconds Ctrl-C waits for requests in flight before the server stops regardless: long enough for
# a plan, short enough that stopping never seems to hang (jobs are cancelled, not awaited).
_GRACEFUL_STOP_S = 5


def is_loopback(address: str) -> bool:
    """Whether ``address`` (an IP address, as bound) is reachable only from this machine.

    ``0.0.0.0`` and ``::`` (every interface) are not; ``127.0.0.0/8`` and ``::1`` are. Anything
    that is not an IP address counts as reachable from elsewhere, so that doubt warns.

    Examples
    --------
    >>> is_loopback("127.0.0.2"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def no_login_warning(host: str, url: str) -> str:
    """The warning for an address others can reach (one line, without ``warning:``)."""
    return (
        f"--host {host} is not a loopback address and the dashboard has no login (the board "
        "at /board has its own): anyone who "
        f"can reach {url} can use it and read your overlay's places; serve on {LOOPBACK} "
        "unless you mean to share it"
    )


def url_of(address: str, port: int) -> str:
    """``http://ADDRESS:PORT/``, with an IPv6 address in brackets."""
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/"


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port``, or exit 1 with one line saying why not.

    Bound here rather than by the server, so that a port in use is found before anything
    starts. ``SO_REUSEADDR`` as uvicorn sets it: a port left in TIME_WAIT by a server just
    stopped can be bound again, while one another server listens on cannot.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        fail(f"--host {host!r} is not an address of this machine (give e.g. {LOOPBACK})")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is in use: stop the other server or pass --port N")
        if exc.errno == errno.EACCES and 0 < port < _FIRST_UNPRIVILEGED:
            fail(
                f"port {port} on {host} needs administrator rights: pass --port N "
                f"({_FIRST_UNPRIVILEGED}-{_MAX_PORT})"
            )
        if exc.errno == errno.EADDRNOTAVAIL:
            fail(f"--host {host!r} is not an address of this machine (give e.g. {LOOPBACK})")
        fail(f"cannot listen on {host} port {port}: {exc.strerror or exc}")
    return sock


def _flows_dir(flows: Path | None) -> Path | None:
    """The saved fit to serve: an explicit ``--flows`` must hold one; the default may not."""
    if flows is not None and not (flows / POSTERIOR_FILE).is_file():
        fail(
            f"--flows {flows}: no saved fit there ({POSTERIOR_FILE}); run "
            f"`{prog()} flows fit --out {flows}` first, or leave --flows out"
        )
    return flows


def _open_board(db: str | None, key_file: Path | None, schema: str | None) -> Board | None:
    """The board ``--board`` names, opened with its key (asked for here, before serving)."""
    if db is None:
        return None
    from nkescape.board.service import Board
    from nkescape.cli.board import read_key

    return Board.open(db, read_key(key_file), schema=schema)


def _run(app: FastAPI, sock: socket.socket, on_started: Callable[[], None]) -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C; ``on_started`` runs once it answers."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                on_started()

    config = uvicorn.Config(
        app,
        # Quiet: the address goes to stderr once, no access log (the paths say little, and a
        # log of who asked what does not belong on a shared machine), errors still shown.
        log_level="warning",
        access_log=False,
        server_header=False,
        backlog=_BACKLOG,
        timeout_graceful_shutdown=_GRACEFUL_STOP_S,
    )
    try:
        Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn stops on the first Ctrl-C, then raises it again once shut down.
        pass
    finally:
        sock.close()
    note("stopped")


def serve_command(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on; any but a loopback address lets other machines in, "
            "and the dashboard has no login.",
            metavar="ADDRESS",
        ),
    ] = LOOPBACK,
    port: Annotated[
        int,
        typer.Option(
            "--port",
            help="Port to listen on (0: any free port).",
            min=0,
            max=_MAX_PORT,
            metavar="N",
        ),
    ] = DEFAULT_PORT,
    overlay: Overlay = None,
    flows: Annotated[
        Path | None,
        typer.Option(
            "--flows",
            help=f"Folder of a saved flow-model fit (from `flows fit`) for the flows panel "
            f"[default: {FLOWS_OUT}].",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the page in the web browser once it is up.")
    ] = False,
    board_db: Annotated[
        str | None,
        typer.Option(
            "--board",
            help="Also serve the coordination board at /board, behind its login: a board file or "
            "a postgresql:// URL, as `board --db` (its key: --key-file, else the passphrase).",
            metavar="PATH",
        ),
    ] = None,
    key_file: KeyFile = None,
    schema: Schema = None,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Mark the board's session cookie Secure: for a server behind a TLS proxy.",
        ),
    ] = False,
) -> None:
    """Serve the dashboard: the network, planner, simulator and flows as an offline web page."""
    from nkescape.web import create_app

    flows_dir = _flows_dir(flows)
    # The port first: it is the quicker check, and the likelier mistake (a server left running).
    sock = bind(host, port)
    board: Board | None = None
    try:
        with library_errors():
            board = _open_board(board_db, key_file, schema)
            app = create_app(
                overlays_from(overlay) or None,
                flows_dir=flows_dir or FLOWS_OUT,
                board=board,
                secure_cookies=secure_cookies,
            )
    except BaseException:
        sock.close()
        if board is not None:
            board.close()
        raise
    for line in app.state.atlas.warnings:  # as every command prints the atlas's warnings
        warn(line)
    address, bound_port = sock.getsockname()[:2]
    url = url_of(address, bound_port)
    if not is_loopback(address):
        warn(no_login_warning(host, url))
        if board is not None and not secure_cookies:
            warn(
                f"--board on {host} over plain HTTP: passwords and session cookies cross the "
                "network in clear; serve behind TLS (a reverse proxy) and pass --secure-cookies"
            )

    def started() -> None:
        note(f"serving the dashboard at {url} (Ctrl-C to stop)")
        if board is not None:
            note(f"the coordination board is at {url}board/login")
        if open_page:
            import webbrowser

            # In a thread: some browsers' launchers return only when the browser closes.
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

    try:
        _run(app, sock, started)
    finally:
        if board is not None:
            board.close()
