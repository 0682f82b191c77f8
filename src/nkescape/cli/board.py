"""``nkescape board``: the coordination board from the command line, as a local coordinator.

Every command opens the board named by ``--db`` (a file, or a PostgreSQL URL) with ``--key-file``
or else the passphrase (``$NKESCAPE_BOARD_PASSPHRASE``, or asked for, hidden); a wrong one is one
line and exit 1, with nothing changed. Results go to standard output (the code ``journey new``
makes, the overdue list), notes to standard error. ``overdue`` exits 0 whenever it ran, overdue
journeys or not, so that cron tells a failure from an alert.

The board's modules (SQLCipher, SQLAlchemy, the planner, NumPy) are imported inside the commands,
so that ``nkescape --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nkescape.board.model import ACTIVE, CheckinStatus, JourneyStatus, Role
from nkescape.cli._common import EXIT_CODES, fail, library_errors, note, prog
from nkescape.cli.plan import SELF_FUNDED, FundingChoice, funding_of, parse_date

if TYPE_CHECKING:
    from nkescape.board.crypto import BoardKey
    from nkescape.board.model import Journey, Overdue, User
    from nkescape.board.service import Board

__all__ = ["app"]

DB_ENV = "NKESCAPE_BOARD_DB"
KEY_FILE_ENV = "NKESCAPE_BOARD_KEY_FILE"
SCHEMA_ENV = "NKESCAPE_BOARD_SCHEMA"
PASSPHRASE_ENV = "NKESCAPE_BOARD_PASSPHRASE"
USER_PASSWORD_ENV = "NKESCAPE_BOARD_USER_PASSWORD"
# The layout of this command's --json outputs (overdue, journey list): raised on a change.
BOARD_JSON_FORMAT = 1

HELP = "The coordination board: journeys under way, check-ins and overdue alerts, kept encrypted."

app = typer.Typer(help=HELP, no_args_is_help=True, epilog=EXIT_CODES)
journey_app = typer.Typer(help="Plan, show, list and assign journeys.", no_args_is_help=True)
user_app = typer.Typer(
    help="Add, list and remove the board's accounts; set passwords and second factors.",
    no_args_is_help=True,
)
audit_app = typer.Typer(help="Show and verify the audit log.", no_args_is_help=True)
app.add_typer(journey_app, name="journey")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")


# The choices are the board's own vocabulary, written once in nkescape.board.model (which
# imports nothing heavy); the statuses a coordinator sets by hand leave out at-leg, which
# follows from an ok check-in.
SettableStatus = StrEnum(  # type: ignore[misc]
    "SettableStatus", [(s.value, s.value) for s in JourneyStatus if s != JourneyStatus.AT_LEG]
)


Db = Annotated[
    str,
    typer.Option(
        "--db",
        help=f"The board: a file, or a postgresql:// URL (also ${DB_ENV}).",
        envvar=DB_ENV,
        show_envvar=False,
        metavar="PATH",
    ),
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help=f"The board's key file (also ${KEY_FILE_ENV}); without it the passphrase, from "
        f"${PASSPHRASE_ENV} or asked for.",
        envvar=KEY_FILE_ENV,
        show_envvar=False,
        metavar="FILE",
    ),
]
Schema = Annotated[
    str | None,
    typer.Option(
        "--schema",
        help=f"PostgreSQL: the schema holding the board [default: nkescape_board] (also "
        f"${SCHEMA_ENV}).",
        envvar=SCHEMA_ENV,
        show_envvar=False,
        metavar="NAME",
    ),
]
Code = Annotated[str, typer.Argument(help="The journey's code, e.g. K7QM-4XTR-9BWE-2HDA.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def parse_moment(text: str) -> dt.datetime:
    """``--at`` / ``--now``: an ISO time, UTC unless it carries an offset; a bad one is exit 2."""
    from nkescape.board.errors import BoardError
    from nkescape.board.model import parse_time

    try:
        return parse_time(text)
    except BoardError as exc:
        raise typer.BadParameter(str(exc)) from None


At = Annotated[
    dt.datetime | None,
    typer.Option(
        "--at",
        help="When it happened: an ISO time, UTC unless it ends in an offset [default: now].",
        metavar="ISO-TIME",
        parser=parse_moment,
        show_default=False,
    ),
]
Now = Annotated[
    dt.datetime | None,
    typer.Option(
        "--now",
        help="The time to judge by: an ISO time, UTC unless it ends in an offset [default: now].",
        metavar="ISO-TIME",
        parser=parse_moment,
        show_default=False,
    ),
]
From = Annotated[
    str, typer.Option("--from", help="Where the group sets out from (a place id).", metavar="PLACE")
]
To = Annotated[str | None, typer.Option("--to", help="Destination place id.", metavar="PLACE")]
Date = Annotated[
    dt.date,
    typer.Option(
        "--date", help="The day the group sets out.", metavar="YYYY-MM-DD", parser=parse_date
    ),
]
Itinerary = Annotated[
    int,
    typer.Option(
        "--itinerary", help="Which of the plan's itineraries (1 = the best).", min=1, metavar="N"
    ),
]


# --- keys and opening -------------------------------------------------------------------------


def _ask(text: str) -> str:
    # Prompts go to standard error, so that standard output holds only results.
    answer: str = typer.prompt(text, hide_input=True, err=True)
    return answer


def read_key(key_file: Path | None, *, new: bool = False) -> BoardKey:
    """The key from the key file, else the passphrase (environment, else asked; twice if new)."""
    from nkescape.board.crypto import BoardKey

    if key_file is not None:
        return BoardKey.from_key_file(key_file)
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is None:
        passphrase = _ask("Passphrase for the new board" if new else "Board passphrase")
        if new and _ask("Repeat the passphrase") != passphrase:
            fail("the two passphrases differ; nothing was created: run init again")
    return BoardKey.from_passphrase(passphrase)


@contextmanager
def _opened(db: str, key_file: Path | None, schema: str | None) -> Iterator[tuple[Board, BoardKey]]:
    """The board at ``db`` and the key that opened it, closed afterwards; the board's errors
    become one line and exit 1."""
    from nkescape.board.service import Board

    with library_errors():
        key = read_key(key_file)
        board = Board.open(db, key, schema=schema)
    try:
        with library_errors():
            yield board, key
    finally:
        board.close()


@contextmanager
def _open(db: str, key_file: Path | None, schema: str | None) -> Iterator[Board]:
    """The board at ``db`` (see ``_opened``)."""
    with _opened(db, key_file, schema) as (board, _):
        yield board


def _local() -> User:
    from nkescape.board.service import Board

    return Board.LOCAL


# --- formatting -------------------------------------------------------------------------------


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _minute(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _where(journey: Journey) -> str:
    """``at leg 2 of 4`` and the like: the status in words."""
    n = len(journey.legs)
    if journey.status == JourneyStatus.AT_LEG:
        return f"at leg {journey.current_leg} of {n}"
    if journey.status == JourneyStatus.SAFE:
        return f"safe (leg {journey.current_leg} of {n} confirmed)"
    return journey.status.value


def _print(text: str = "") -> None:
    typer.echo(text)


def _show(journey: Journey) -> None:
    plan = journey.plan
    _print(f"journey {journey.code}: {_where(journey)}; partner {journey.partner or '-'}")
    _print(f"group {journey.group.label()}; funding {journey.funding}")
    _print(
        f"plan {journey.version} (itinerary {plan.itinerary}): {plan.start} to "
        f"{plan.destination}, setting out {plan.departure.isoformat()}"
        + (f"; safe at {plan.safety_at}" if plan.safety_at else "")
    )
    spent = journey.spent_usd
    # Times in UTC, to the minute; the leg's own name last, as long as it needs. A leg is done
    # when its end, or a later leg's, was confirmed.
    rows = [["leg", "expected (p50)", "due by (p90)", "done", "US$", "leg -> to"]]
    for w in journey.legs:
        rows.append(
            [
                str(w.index),
                _minute(plan.due(w.index, quantile="p50")),
                _minute(plan.due(w.index)),
                "yes" if w.index <= journey.current_leg else "-",
                f"{spent[w.index - 1]:,.0f}" if spent[w.index - 1] else "-",
                f"{w.leg} -> {w.end}",
            ]
        )
    _table(rows)
    if journey.checkins:
        _print("check-ins (UTC):")
        for c in journey.checkins:
            extra = f" US${c.spent_usd:,.0f}" if c.spent_usd else ""
            said = f" - {c.note}" if c.note else ""
            _print(
                f"  {_minute(c.at)}  plan {c.plan} leg {c.leg} {c.status.value} by {c.by}{extra}"
                f"{said}"
            )
    nxt = journey.next_leg
    if nxt is not None and (journey.status in ACTIVE or journey.status == JourneyStatus.SAFE):
        _print(f"next: the end of leg {nxt.index} ({nxt.end}) due by {_when(plan.due(nxt.index))}")
    if journey.closed_on is not None:
        _print(f"closed on {journey.closed_on.isoformat()}")


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    for row in rows:
        _print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _overdue_line(o: Overdue) -> str:
    return (
        f"{o.code}  leg {o.leg} ({o.leg_id}, to {o.end})  due {_when(o.due)}  "
        f"{o.late_hours:,.1f} h late  last contact {_when(o.last_contact)}  {o.status.value}"
        + (f"  partner {o.partner}" if o.partner else "")
    )


def _dump(data: Any) -> None:
    _print(json.dumps(data, indent=2, ensure_ascii=False))


# --- commands ---------------------------------------------------------------------------------


@app.command(epilog=EXIT_CODES)
def init(
    db: Db,
    key_file: KeyFile = None,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="Write a new key file here and lock the board with it (keep it apart from "
            "the board; without it the board cannot be opened).",
            metavar="FILE",
        ),
    ] = None,
    schema: Schema = None,
) -> None:
    """Create a board, locked with a passphrase (asked twice) or a key file."""
    from nkescape.board.crypto import new_key_file as write_key_file
    from nkescape.board.service import Board

    if key_file is not None and new_key_file is not None:
        fail("give --key-file or --new-key-file, not both", 2)
    made: Path | None = None
    with library_errors():
        if new_key_file is not None:
            write_key_file(new_key_file)
            made = key_file = new_key_file
        try:
            key = read_key(key_file, new=True)
            Board.init(db, key, schema=schema).close()
        except BaseException:
            if made is not None:  # a key file for no board would only confuse
                made.unlink(missing_ok=True)
            raise
    if made is not None:
        note(f"wrote the key file {made}: keep it safe and apart from the board")
    elif key_file is None:
        note("keep the passphrase safe: there is no way to open the board without it")
    _print(f"created the board at {db}")


Account = Annotated[str, typer.Argument(help="The account's name.", metavar="NAME")]


def _new_password(name: str, unchanged: str) -> str:
    """The password from $NKESCAPE_BOARD_USER_PASSWORD, else asked twice (hidden)."""
    password = os.environ.get(USER_PASSWORD_ENV)
    if password is None:
        password = _ask(f"Password for {name}")
        if _ask("Repeat the password") != password:
            fail(f"the two passwords differ; {unchanged}")
    return password


def _print_totp(name: str, secret: str) -> None:
    """The second factor's secret and URI, on standard output, this once."""
    from nkescape.board.auth import totp_uri

    _print(f"totp secret: {secret}")
    _print(f"totp uri: {totp_uri(secret, name)}")
    note(
        f"give {name} the secret or the URI (as a QR code) for an authenticator app now; "
        "the board never shows it again"
    )


@user_app.command("add", epilog=EXIT_CODES)
def user_add(
    name: Annotated[str, typer.Argument(help="The account's name (a pseudonym is best).")],
    role: Annotated[Role, typer.Option("--role", help="What the account may do.")],
    db: Db,
    totp: Annotated[
        bool,
        typer.Option(
            "--totp", help="Give it a second factor (TOTP); its secret is printed this once."
        ),
    ] = False,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """Add an account; its password is asked twice (or read from $NKESCAPE_BOARD_USER_PASSWORD)."""
    from nkescape.board.auth import new_totp_secret

    with _open(db, key_file, schema) as board:
        password = _new_password(name, "the account was not added")
        secret = new_totp_secret() if totp else None
        user = board.add_user(_local(), name, role.value, password, totp_secret=secret)
    _print(f"added the {user.role.value} account {user.name}")
    if secret is not None:
        _print_totp(user.name, secret)


@user_app.command("passwd", epilog=EXIT_CODES)
def user_passwd(name: Account, db: Db, key_file: KeyFile = None, schema: Schema = None) -> None:
    """Set an account's password (asked twice, or $NKESCAPE_BOARD_USER_PASSWORD); ends its
    sessions."""
    with _open(db, key_file, schema) as board:
        if board.user(name) is None:  # before asking: a typo should not cost two prompts
            fail(f"no account {name[:40]!r} on this board: see `{prog()} board user list`")
        password = _new_password(name, "the password was not changed")
        user = board.set_password(_local(), name, password)
    _print(f"changed the password of {user.name}; its sessions were ended")


@user_app.command("remove", epilog=EXIT_CODES)
def user_remove(name: Account, db: Db, key_file: KeyFile = None, schema: Schema = None) -> None:
    """Delete an account: its sessions end, its journeys become unassigned."""
    with _open(db, key_file, schema) as board:
        done = board.remove_user(_local(), name)
    n, s = len(done.unassigned), done.sessions
    _print(
        f"removed the {done.user.role.value} account {done.user.name}; "
        f"{n} journey{'s' if n != 1 else ''} unassigned, {s} session{'s' if s != 1 else ''} ended"
    )
    for code in done.unassigned:
        note(f"journey {code} is assigned to nobody now: `{prog()} board journey assign {code}`")


@user_app.command("totp", epilog=EXIT_CODES)
def user_totp(
    name: Account,
    db: Db,
    on: Annotated[
        bool, typer.Option("--on", help="Give it a new second-factor secret (printed once).")
    ] = False,
    off: Annotated[bool, typer.Option("--off", help="Turn its second factor off.")] = False,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """Turn an account's second factor (TOTP) on, with a new secret, or off; ends its sessions."""
    from nkescape.board.auth import new_totp_secret

    if on == off:
        fail("give --on or --off (one of them)", 2)
    secret = new_totp_secret() if on else None
    with _open(db, key_file, schema) as board:
        user = board.set_totp(_local(), name, secret)
    state = "on, with a new secret" if secret else "off"
    _print(f"the second factor of {user.name} is {state}; its sessions were ended")
    if secret is not None:
        _print_totp(user.name, secret)


@user_app.command("list", epilog=EXIT_CODES)
def user_list(
    db: Db, key_file: KeyFile = None, schema: Schema = None, as_json: AsJson = False
) -> None:
    """List the accounts and their roles."""
    with _open(db, key_file, schema) as board:
        users = board.users(_local())
    if as_json:
        _dump({"format": BOARD_JSON_FORMAT, "users": [u.to_json() for u in users]})
        return
    if not users:
        _print(f"no accounts yet; add one with `{prog()} board user add NAME --role partner`")
    for u in users:
        _print(f"{u.name}  {u.role.value}")


@journey_app.command("new", epilog=EXIT_CODES)
def journey_new(
    db: Db,
    start: From,
    departure: Date,
    group: Annotated[
        str,
        typer.Option(
            "--group",
            help="Who travels, as counts: e.g. 2w,1m,1c (w women, m men, c children, e "
            "elderly, d disabled).",
            metavar="GROUP",
        ),
    ],
    itinerary: Itinerary = 1,
    funding: Annotated[
        FundingChoice, typer.Option("--funding", help="How the journey is paid.")
    ] = SELF_FUNDED,
    destination: To = None,
    partner: Annotated[
        str | None,
        typer.Option("--partner", help="The partner account to assign it to.", metavar="NAME"),
    ] = None,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """Plan a journey and put it on the board; prints its new code."""
    from nkescape.routing.query import DESTINATION

    with _open(db, key_file, schema) as board:
        journey = board.new_journey(
            _local(),
            start=start,
            departure=departure,
            group=group,
            itinerary=itinerary,
            funding=funding_of(funding),
            partner=partner,
            destination=destination or DESTINATION,
        )
    last = journey.legs[-1]
    note(
        f"{len(journey.legs)} legs from {journey.plan.start} to {journey.plan.destination}, "
        f"setting out {journey.departure.isoformat()}; the last leg's end expected by "
        f"{_when(journey.plan.due(last.index, quantile='p50'))}, due by "
        f"{_when(journey.plan.due(last.index))}"
    )
    _print(journey.code)


@journey_app.command("show", epilog=EXIT_CODES)
def journey_show(
    code: Code, db: Db, key_file: KeyFile = None, schema: Schema = None, as_json: AsJson = False
) -> None:
    """Show a journey: its legs' windows, check-ins and status."""
    with _open(db, key_file, schema) as board:
        journey = board.journey(_local(), code)
    if as_json:
        _dump(journey.to_json())
    else:
        _show(journey)


@journey_app.command("list", epilog=EXIT_CODES)
def journey_list(
    db: Db, key_file: KeyFile = None, schema: Schema = None, as_json: AsJson = False
) -> None:
    """List the journeys on the board, newest first."""
    with _open(db, key_file, schema) as board:
        journeys = board.journeys(_local())
    if as_json:
        _dump({"format": BOARD_JSON_FORMAT, "journeys": [j.to_json() for j in journeys]})
        return
    if not journeys:
        _print(f"no journeys yet; plan one with `{prog()} board journey new`")
        return
    rows = [["code", "status", "set out", "next due", "partner"]]
    for j in journeys:
        nxt = j.next_leg
        due = _when(j.plan.due(nxt.index)) if nxt is not None else "-"
        rows.append([j.code, _where(j), j.departure.isoformat(), due, j.partner or "-"])
    _table(rows)


@journey_app.command("assign", epilog=EXIT_CODES)
def journey_assign(
    code: Code,
    db: Db,
    partner: Annotated[
        str | None,
        typer.Option("--partner", help="The partner account to assign it to.", metavar="NAME"),
    ] = None,
    nobody: Annotated[bool, typer.Option("--nobody", help="Assign it to no partner.")] = False,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """Assign a journey to a partner account (or to nobody)."""
    if (partner is None) == (not nobody):
        fail("give --partner NAME or --nobody", 2)
    with _open(db, key_file, schema) as board:
        journey = board.assign(_local(), code, partner)
    _print(f"{journey.code}: partner {journey.partner or '-'}")


@app.command(epilog=EXIT_CODES)
def checkin(
    code: Code,
    db: Db,
    leg: Annotated[int, typer.Option("--leg", help="The leg it is about (1 = the first).")],
    status: Annotated[
        CheckinStatus,
        typer.Option("--status", help="ok: the end of the leg is reached; or what holds it up."),
    ],
    message: Annotated[
        str | None,
        typer.Option(
            "--note",
            help="A short note: no names, phone numbers, addresses or coordinates.",
            metavar="TEXT",
        ),
    ] = None,
    at: At = None,
    spent: Annotated[
        float | None,
        typer.Option("--spent", help="US$ spent on the leg since the last report.", metavar="USD"),
    ] = None,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """Record a check-in on a leg of a journey."""
    with _open(db, key_file, schema) as board:
        journey = board.checkin(
            _local(), code, leg=leg, status=status.value, note=message, at=at, spent_usd=spent
        )
    _print(f"{journey.code}: {_where(journey)}")


@app.command(epilog=EXIT_CODES)
def replan(
    code: Code,
    db: Db,
    start: From,
    departure: Date,
    itinerary: Itinerary = 1,
    destination: To = None,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """Plan a journey again from where the group is now; the earlier plans are kept."""
    with _open(db, key_file, schema) as board:
        journey = board.replan(
            _local(),
            code,
            start=start,
            departure=departure,
            itinerary=itinerary,
            destination=destination,
        )
    note(f"plan {journey.version}: {len(journey.legs)} legs from {journey.plan.start}")
    _print(f"{journey.code}: {_where(journey)}")


@app.command(epilog=EXIT_CODES)
def status(
    code: Code,
    value: Annotated[SettableStatus, typer.Argument(help="The status to set.", metavar="STATUS")],
    db: Db,
    at: At = None,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """Set a journey's status by hand (any status but closed reopens a closed journey)."""
    with _open(db, key_file, schema) as board:
        journey = board.set_status(_local(), code, value.value, at=at)
    _print(f"{journey.code}: {_where(journey)}")


@app.command(epilog=EXIT_CODES)
def close(
    code: Code, db: Db, at: At = None, key_file: KeyFile = None, schema: Schema = None
) -> None:
    """Close a journey; `purge` deletes it after the retention period."""
    from nkescape.board.privacy import RETENTION_DAYS

    with _open(db, key_file, schema) as board:
        journey = board.set_status(_local(), code, "closed", at=at)
    note(f"`{prog()} board purge` deletes it {RETENTION_DAYS} days after it closed")
    _print(f"{journey.code}: closed on {journey.closed_on}")


@app.command(epilog=EXIT_CODES)
def overdue(
    db: Db,
    now: Now = None,
    as_json: AsJson = False,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """List the journeys later than their next leg's p90, the latest first (exit 0 either way)."""
    with _open(db, key_file, schema) as board:
        moment = now or board.clock()
        found = board.overdue(_local(), now=moment)
    if as_json:
        _dump(
            {
                "format": BOARD_JSON_FORMAT,
                "now": moment.isoformat(),
                "overdue": [o.to_json() for o in found],
            }
        )
        return
    if not found:
        _print("no journey is overdue")
    for o in found:
        _print(_overdue_line(o))


@app.command(epilog=EXIT_CODES)
def purge(
    db: Db,
    now: Now = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days",
            help="Days a closed journey is kept [default: 30].",
            min=0,
            metavar="N",
            show_default=False,
        ),
    ] = None,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """Delete the journeys closed longer ago than the retention period, and their bytes."""
    from nkescape.board.privacy import RETENTION_DAYS

    days = RETENTION_DAYS if retention_days is None else retention_days
    with _open(db, key_file, schema) as board:
        moment = now or board.clock()
        count = board.purge(_local(), now=moment, retention_days=days)
    cutoff = moment.date() - dt.timedelta(days=days)
    _print(
        f"purged {count} journey{'s' if count != 1 else ''} (closed before {cutoff.isoformat()})"
    )


@app.command(epilog=EXIT_CODES)
def export(
    db: Db,
    out: Annotated[
        Path, typer.Option("-o", "--out", help="The archive to write (a new file).", metavar="FILE")
    ],
    archive_key_file: Annotated[
        Path | None,
        typer.Option(
            "--archive-key-file",
            help="Encrypt the archive with this key file [default: the board's own key].",
            metavar="FILE",
        ),
    ] = None,
    key_file: KeyFile = None,
    schema: Schema = None,
) -> None:
    """Write the whole board to an encrypted archive (never plaintext); nkescape.board.read_export
    reads it, nothing loads it back into a board."""
    from nkescape.board.crypto import BoardKey

    with _opened(db, key_file, schema) as (board, key):
        archive_key = key if archive_key_file is None else BoardKey.from_key_file(archive_key_file)
        count = board.export(_local(), out, archive_key)
    note(f"wrote {out} ({count} journey{'s' if count != 1 else ''}, encrypted)")


@audit_app.command("verify", epilog=EXIT_CODES)
def audit_verify(db: Db, key_file: KeyFile = None, schema: Schema = None) -> None:
    """Check the audit log's hash chain; exit 1 naming the first bad row."""
    with _open(db, key_file, schema) as board:
        rows = board.verify_audit()
    _print(f"the audit log is intact: {rows} row{'s' if rows != 1 else ''} checked")


@audit_app.command("show", epilog=EXIT_CODES)
def audit_show(
    db: Db, key_file: KeyFile = None, schema: Schema = None, as_json: AsJson = False
) -> None:
    """Print the audit log, oldest first (reading it is recorded too)."""
    with _open(db, key_file, schema) as board:
        rows = board.audit_log(_local())
    if as_json:
        _dump({"format": BOARD_JSON_FORMAT, "audit": [r.to_json() for r in rows]})
        return
    for r in rows:
        _print(
            f"{r.seq:>6}  {_when(r.at)}  {r.actor}  {r.action}  {r.journey or '-'}"
            + (f"  {r.detail}" if r.detail else "")
        )
