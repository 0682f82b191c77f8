"""``nkescape board``: every command, its output streams, exit codes and one-line errors.

Boards here are SQLCipher files locked with key files (Argon2 runs only in the passphrase
tests); the domain tests run the same operations on both backends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nkescape.board import auth
from nkescape.board.auth import totp_uri
from nkescape.board.crypto import BoardKey, new_key_file
from nkescape.board.model import CheckinStatus, JourneyStatus, Role, parse_code
from nkescape.board.privacy import NOTE_MAX
from nkescape.board.service import Board
from nkescape.board.vault import read_export
from nkescape.cli import COMMANDS, app
from nkescape.cli.board import (
    DB_ENV,
    KEY_FILE_ENV,
    PASSPHRASE_ENV,
    SCHEMA_ENV,
    USER_PASSWORD_ENV,
)

from . import boardkit

runner = CliRunner()
EXE = Path(sys.executable).with_name("nkescape")
PASSPHRASE = "seven tired owls read maps"
PASSWORD = "correct horse battery staple"
# The board's environment variables, cleared so the machine's own settings never leak in.
CLEAN: dict[str, str | None] = {
    DB_ENV: None,
    KEY_FILE_ENV: None,
    SCHEMA_ENV: None,
    PASSPHRASE_ENV: None,
    USER_PASSWORD_ENV: None,
    "NKESCAPE_PROG": None,
    "COLUMNS": "100",
}


def nk(*args: str, input: str | None = None, **env: str | None) -> Any:
    """``nkescape board ARGS`` in this process."""
    return runner.invoke(app, ["board", *args], input=input, env={**CLEAN, **env})


def one_line_error(result: Any, code: int = 1) -> str:
    """The error line of a failed command (asserting there is exactly one, and no traceback)."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nkescape: ") and "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


@dataclass
class Cli:
    """A board file, its key file, and the arguments that open it."""

    db: Path
    key: Path

    @property
    def args(self) -> list[str]:
        return ["--db", str(self.db), "--key-file", str(self.key)]

    def run(self, *args: str, input: str | None = None, **env: str | None) -> Any:
        return nk(*args, *self.args, input=input, **env)

    def ok(self, *args: str, **env: str | None) -> Any:
        result = self.run(*args, **env)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    db, key = tmp_path / "board.db", tmp_path / "board.key"
    result = nk("init", "--db", str(db), "--new-key-file", str(key))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"created the board at {db}\n"
    assert f"wrote the key file {key}" in result.stderr
    return Cli(db, key)


@pytest.fixture
def code(cli: Cli) -> str:
    return new_journey(cli)


def new_journey(cli: Cli, *extra: str) -> str:
    result = cli.ok(
        "journey", "new", "--from", "hyesan", "--date", "2017-09-01", "--group", "2w,1c", *extra
    )
    # The code, alone on standard output, for scripts; the summary goes to standard error.
    assert result.stdout.count("\n") == 1
    code = result.stdout.strip()
    assert parse_code(code) == code
    assert "4 legs from hyesan to seoul, setting out 2017-09-01" in result.stderr
    return code


def show(cli: Cli, code: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cli.ok("journey", "show", code, "--json").stdout)
    return data


# --- init and keys ----------------------------------------------------------------------------


def test_init_refuses_an_existing_board_and_leaves_no_stray_key_file(cli: Cli) -> None:
    other = cli.db.with_name("other.key")
    line = one_line_error(nk("init", "--db", str(cli.db), "--new-key-file", str(other)))
    assert "exists" in line and "nothing was changed" in line
    assert not other.exists()
    line = one_line_error(nk("init", "--db", str(cli.db), "--new-key-file", str(cli.key)))
    assert "never overwritten" in line
    result = nk("init", *cli.args, "--new-key-file", str(other))
    assert result.exit_code == 2 and "not both" in result.stderr


def test_a_passphrase_asked_twice_then_a_wrong_one_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "board.db"
    result = nk("init", "--db", str(db), input=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    assert result.exit_code == 0, result.stderr
    assert "keep the passphrase safe" in result.stderr
    assert PASSPHRASE not in result.stdout + result.stderr  # hidden input, never echoed
    # Opened from the environment, or from the prompt.
    listed = nk("journey", "list", "--db", str(db), **{PASSPHRASE_ENV: PASSPHRASE})
    assert listed.exit_code == 0 and "no journeys yet" in listed.stdout
    prompted = nk("journey", "list", "--db", str(db), input=f"{PASSPHRASE}\n")
    assert prompted.exit_code == 0, prompted.stderr
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for how in ({PASSPHRASE_ENV: PASSPHRASE + "x"}, {"input": "not the passphrase\n"}):
        env = {k: v for k, v in how.items() if k != "input"}
        result = nk("journey", "list", "--db", str(db), input=how.get("input"), **env)
        assert result.exit_code == 1
        assert result.stderr.strip().endswith(
            f"wrong passphrase or key file for the board at {db}; nothing was changed"
        )
        assert len(result.stderr.strip().splitlines()[-1:]) == 1 and "Traceback" not in (
            result.stderr
        )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_passphrases_that_differ_create_nothing(tmp_path: Path) -> None:
    db = tmp_path / "board.db"
    result = nk("init", "--db", str(db), input=f"{PASSPHRASE}\n{PASSPHRASE}!\n")
    assert result.exit_code == 1
    # (The test runner echoes hidden input's newlines to stdout, so the prompts share a line.)
    assert result.stderr.strip().endswith(
        "nkescape: the two passphrases differ; nothing was created: run init again"
    )
    assert not db.exists()
    short = nk("init", "--db", str(db), **{PASSPHRASE_ENV: "short"})
    assert "use at least 12" in one_line_error(short) and not db.exists()


def test_a_wrong_key_file_is_one_line_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.key"
    new_key_file(wrong)
    before = cli.db.read_bytes()
    line = one_line_error(nk("journey", "list", "--db", str(cli.db), "--key-file", str(wrong)))
    assert line == (
        f"nkescape: wrong passphrase or key file for the board at {cli.db}; nothing was changed"
    )
    assert cli.db.read_bytes() == before
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key\n")
    line = one_line_error(nk("journey", "list", "--db", str(cli.db), "--key-file", str(garbage)))
    assert "does not hold 64 hex characters" in line


def test_no_board_and_no_db(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    new_key_file(key)
    missing = tmp_path / "missing.db"
    line = one_line_error(nk("overdue", "--db", str(missing), "--key-file", str(key)))
    assert f"no board at {missing}" in line and "board init" in line
    assert "Missing option '--db'" in nk("overdue").stderr
    assert nk("overdue").exit_code == 2


def test_the_board_and_key_file_can_come_from_the_environment(cli: Cli) -> None:
    result = nk("overdue", **{DB_ENV: str(cli.db), KEY_FILE_ENV: str(cli.key)})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "no journey is overdue\n"


# --- users ------------------------------------------------------------------------------------


def test_users_are_added_with_a_password_asked_twice_or_from_the_environment(cli: Cli) -> None:
    result = cli.run("user", "add", "mekong-1", "--role", "partner", input=f"{PASSWORD}\n" * 2)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "added the partner account mekong-1"
    assert PASSWORD not in result.stdout + result.stderr
    result = cli.ok("user", "add", "audit-1", "--role", "auditor", **{USER_PASSWORD_ENV: PASSWORD})
    assert cli.ok("user", "list").stdout == "audit-1  auditor\nmekong-1  partner\n"
    listed = json.loads(cli.ok("user", "list", "--json").stdout)
    assert listed["users"][1] == {"name": "mekong-1", "role": "partner"}
    differ = cli.run("user", "add", "x", "--role", "partner", input=f"{PASSWORD}\nother one!!!\n")
    assert differ.exit_code == 1 and "the two passwords differ" in differ.stderr
    short = cli.run("user", "add", "y", "--role", "partner", **{USER_PASSWORD_ENV: "short"})
    assert "at least 12" in one_line_error(short)
    again = cli.run("user", "add", "mekong-1", "--role", "partner", **{USER_PASSWORD_ENV: PASSWORD})
    assert one_line_error(again)
    bad_role = cli.run("user", "add", "z", "--role", "boss", **{USER_PASSWORD_ENV: PASSWORD})
    assert bad_role.exit_code == 2 and "coordinator" in bad_role.stderr


def test_an_account_with_a_second_factor_prints_its_secret_once(cli: Cli) -> None:
    result = cli.ok(
        "user", "add", "kim", "--role", "coordinator", "--totp", input=f"{PASSWORD}\n" * 2
    )
    lines = result.stdout.splitlines()[-3:]
    assert lines[0] == "added the coordinator account kim"
    secret = lines[1].removeprefix("totp secret: ")
    assert lines[2] == f"totp uri: {totp_uri(secret, 'kim')}"
    assert "never shows it again" in result.stderr
    with Board.open(cli.db, BoardKey.from_key_file(cli.key)) as board:
        found = board.user("kim")
        assert found is not None and found[1]["totp"] == secret
        rows = board.vault.audit_rows()
    assert all(secret not in str(r.to_json()) for r in rows)
    # The secret is not shown again.
    assert secret not in cli.ok("user", "list").stdout + cli.ok("audit", "show").stdout


def test_passwords_are_set_and_accounts_removed(cli: Cli) -> None:
    env = {USER_PASSWORD_ENV: PASSWORD}
    cli.ok("user", "add", "mekong-1", "--role", "partner", **env)
    code = new_journey(cli, "--partner", "mekong-1")
    with Board.open(cli.db, BoardKey.from_key_file(cli.key)) as board:
        store = auth.SessionStore(board.vault)
        token, _ = store.start("mekong-1")
    new_password = "a different long passphrase"
    result = cli.run("user", "passwd", "mekong-1", input=f"{new_password}\n" * 2)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "changed the password of mekong-1; its sessions were ended"
    )
    assert new_password not in result.stdout + result.stderr
    with Board.open(cli.db, BoardKey.from_key_file(cli.key)) as board:
        assert board.verify_password("mekong-1", PASSWORD) is None
        assert board.verify_password("mekong-1", new_password) is not None
        assert auth.SessionStore(board.vault).get(token) is None
    cli.ok("user", "passwd", "mekong-1", **env)
    with Board.open(cli.db, BoardKey.from_key_file(cli.key)) as board:
        assert board.verify_password("mekong-1", PASSWORD) is not None
        token, _ = auth.SessionStore(board.vault).start("mekong-1")
    differ = cli.run("user", "passwd", "mekong-1", input=f"{PASSWORD}x\n{PASSWORD}y\n")
    assert differ.exit_code == 1 and differ.stdout.strip() == ""  # the prompts' line ends
    assert differ.stderr.endswith(
        "nkescape: the two passwords differ; the password was not changed\n"
    )
    assert "at least 12" in one_line_error(
        cli.run("user", "passwd", "mekong-1", **{USER_PASSWORD_ENV: "short"})
    )
    # An unknown name is refused before any prompt.
    assert "no account 'ghost'" in one_line_error(cli.run("user", "passwd", "ghost"))

    removed = cli.ok("user", "remove", "mekong-1")
    assert removed.stdout == (
        "removed the partner account mekong-1; 1 journey unassigned, 1 session ended\n"
    )
    assert f"journey {code} is assigned to nobody now" in removed.stderr
    assert show(cli, code)["partner"] is None
    assert cli.ok("user", "list").stdout.startswith("no accounts yet")
    assert "no account 'mekong-1'" in one_line_error(cli.run("user", "remove", "mekong-1"))
    with Board.open(cli.db, BoardKey.from_key_file(cli.key)) as board:
        assert auth.SessionStore(board.vault).get(token) is None
        rows = board.vault.audit_rows()
    assert [r.action for r in rows if r.action.startswith("user.")] == [
        "user.add", "user.password", "user.password", "user.remove"
    ]  # fmt: skip
    assert all(p not in str(r.to_json()) for r in rows for p in (PASSWORD, new_password))


def test_the_second_factor_is_turned_on_and_off_from_the_command_line(cli: Cli) -> None:
    cli.ok("user", "add", "audit-1", "--role", "auditor", **{USER_PASSWORD_ENV: PASSWORD})
    on = cli.ok("user", "totp", "audit-1", "--on")
    lines = on.stdout.splitlines()
    assert (
        lines[0] == "the second factor of audit-1 is on, with a new secret; its sessions were ended"
    )
    secret = lines[1].removeprefix("totp secret: ")
    assert lines[2] == f"totp uri: {totp_uri(secret, 'audit-1')}"
    with Board.open(cli.db, BoardKey.from_key_file(cli.key)) as board:
        assert board.vault.user("audit-1")["totp"] == secret  # type: ignore[index]
    off = cli.ok("user", "totp", "audit-1", "--off")
    assert off.stdout == "the second factor of audit-1 is off; its sessions were ended\n"
    with Board.open(cli.db, BoardKey.from_key_file(cli.key)) as board:
        assert board.vault.user("audit-1")["totp"] is None  # type: ignore[index]
        assert all(secret not in str(r.to_json()) for r in board.vault.audit_rows())
    for flags in ((), ("--on", "--off")):
        assert "give --on or --off" in one_line_error(cli.run("user", "totp", "audit-1", *flags), 2)
    assert "no account 'ghost'" in one_line_error(cli.run("user", "totp", "ghost", "--off"))


# --- journeys ---------------------------------------------------------------------------------


def test_a_journey_is_shown_as_text_and_json(cli: Cli, code: str) -> None:
    text = cli.ok("journey", "show", code.lower().replace("-", "")).stdout
    assert text.splitlines()[0] == f"journey {code}: planned; partner -"
    assert "group 2 women, 1 child; funding self" in text
    assert "yalu-wade -> changbai" in text and "due by (p90)" in text
    assert all(len(line) <= 100 for line in text.splitlines())
    data = show(cli, code)
    assert data["code"] == code and data["status"] == "planned"
    assert data["plans"][0]["legs"][0]["leg"] == "yalu-wade"
    assert data["next_leg"] == 1 and data["next_due"].startswith("2017-09-02")
    listed = json.loads(cli.ok("journey", "list", "--json").stdout)
    assert [j["code"] for j in listed["journeys"]] == [code]
    table = cli.ok("journey", "list").stdout.splitlines()
    assert table[0].split() == ["code", "status", "set", "out", "next", "due", "partner"]
    assert table[1].startswith(code) and "planned" in table[1]


def test_a_journey_for_a_partner_and_reassigned(cli: Cli) -> None:
    cli.ok("user", "add", "mekong-1", "--role", "partner", **{USER_PASSWORD_ENV: PASSWORD})
    code = new_journey(cli, "--partner", "mekong-1", "--funding", "ngo", "--itinerary", "1")
    assert show(cli, code)["partner"] == "mekong-1" and show(cli, code)["funding"] == "ngo"
    assert cli.ok("journey", "assign", code, "--nobody").stdout == f"{code}: partner -\n"
    assigned = cli.ok("journey", "assign", code, "--partner", "mekong-1").stdout
    assert assigned == f"{code}: partner mekong-1\n"
    assert cli.run("journey", "assign", code).exit_code == 2
    line = one_line_error(cli.run("journey", "assign", code, "--partner", "ghost"))
    assert "no partner account 'ghost'" in line


def test_bad_journeys_are_one_line(cli: Cli) -> None:
    base = ["journey", "new", "--date", "2017-09-01", "--group", "2w"]
    assert "unknown origin place 'atlantis'" in one_line_error(cli.run(*base, "--from", "atlantis"))
    assert "(did you mean" in one_line_error(cli.run(*base, "--from", "hyesn"))
    assert one_line_error(cli.run(*base, "--from", "hyesan", "--itinerary", "99"))
    bad_date = cli.run("journey", "new", "--from", "hyesan", "--date", "1 Sept", "--group", "2w")
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.stderr
    missing = one_line_error(cli.run("journey", "show", "K7QM-4XTR-9BWE-2HDA"))
    assert missing == "nkescape: no journey K7QM-4XTR-9BWE-2HDA on this board (check the code)"
    assert "not a journey code" in one_line_error(cli.run("journey", "show", "hello"))


# --- check-ins, re-plans, statuses ------------------------------------------------------------


def test_check_ins_from_the_command_line(cli: Cli, code: str) -> None:
    out = cli.ok(
        "checkin", code, "--leg", "1", "--status", "ok", "--at", "2017-09-01T06:00",
        "--note", "crossed, all well", "--spent", "150",
    ).stdout  # fmt: skip
    assert out == f"{code}: at leg 1 of 4\n"
    out = cli.ok(
        "checkin", code, "--leg", "2", "--status", "delayed", "--at", "2017-09-01T20:00+09:00"
    ).stdout
    assert out == f"{code}: at leg 1 of 4\n"
    data = show(cli, code)
    assert [c["at"] for c in data["checkins"]] == [
        "2017-09-01T06:00:00+00:00",
        "2017-09-01T11:00:00+00:00",
    ]
    assert data["checkins"][0]["note"] == "crossed, all well"
    assert data["spent_usd"][0] == 150.0
    text = cli.ok("journey", "show", code).stdout
    assert "plan 1 leg 1 ok by local-coordinator US$150 - crossed, all well" in text


def test_bad_check_ins_are_refused_in_one_line(cli: Cli, code: str) -> None:
    base = ["checkin", code, "--at", "2017-09-01T06:00"]
    line = one_line_error(cli.run(*base, "--leg", "5", "--status", "ok"))
    assert line == f"nkescape: leg 5: journey {code}'s plan has 4 legs (1-4)"
    line = one_line_error(
        cli.run(*base, "--leg", "1", "--status", "ok", "--note", "at 41.82, 128.17 now")
    )
    assert "looks like coordinates" in line and "leave it out" in line and "41.82" not in line
    line = one_line_error(cli.run(*base, "--leg", "1", "--status", "ok", "--note", "x" * 141))
    assert f"keep it to {NOTE_MAX}" in line
    wrong_status = cli.run(*base, "--leg", "1", "--status", "fine")
    assert wrong_status.exit_code == 2
    for status in CheckinStatus:
        assert status.value in wrong_status.stderr
    bad_time = cli.run("checkin", code, "--leg", "1", "--status", "ok", "--at", "noon")
    assert bad_time.exit_code == 2 and "ISO time" in bad_time.stderr
    # An offset that takes the time before year 1 in UTC: one line, not an OverflowError.
    ancient = cli.run(
        "checkin", code, "--leg", "1", "--status", "ok", "--at", "0001-01-01T00:00+09:00"
    )
    assert ancient.exit_code == 2 and "outside the years" in ancient.stderr
    assert len(ancient.stderr.strip().splitlines()) == 1
    future = cli.run("checkin", code, "--leg", "1", "--status", "ok", "--at", "2999-01-01T00:00")
    assert "in the future" in one_line_error(future)
    assert one_line_error(cli.run(*base, "--leg", "1", "--status", "ok", "--spent", "-5"))
    assert show(cli, code)["checkins"] == []


def test_replan_status_and_close(cli: Cli, code: str) -> None:
    cli.ok("checkin", code, "--leg", "1", "--status", "caught", "--at", "2017-09-01T06:00")
    result = cli.ok(
        "replan", code, "--from", "shenyang", "--date", "2017-09-20", "--itinerary", "2"
    )
    assert result.stdout == f"{code}: under-way\n"
    assert "plan 2: 3 legs from shenyang" in result.stderr
    data = show(cli, code)
    assert [p["from"] for p in data["plans"]] == ["hyesan", "shenyang"]
    assert data["departure"] == "2017-09-20"
    assert cli.ok("status", code, "safe").stdout == f"{code}: safe (leg 0 of 3 confirmed)\n"
    at_leg = cli.run("status", code, "at-leg")
    assert at_leg.exit_code == 2  # not offered: at-leg follows from a check-in
    closed = cli.ok("close", code, "--at", "2017-10-01T12:00")
    assert closed.stdout == f"{code}: closed on 2017-10-01\n"
    assert "purge` deletes it 30 days after it closed" in closed.stderr
    refused = cli.run("checkin", code, "--leg", "1", "--status", "ok")
    assert "is closed" in one_line_error(refused)
    assert cli.ok("status", code, "arrived").stdout == f"{code}: arrived\n"  # reopened


# --- overdue, purge, export, audit ------------------------------------------------------------


def test_overdue_as_text_and_json_exit_0_either_way(cli: Cli, code: str) -> None:
    none = cli.ok("overdue", "--now", "2017-09-01T12:00")
    assert none.stdout == "no journey is overdue\n"
    cli.ok("checkin", code, "--leg", "1", "--status", "ok", "--at", "2017-09-01T06:00")
    late = cli.ok("overdue", "--now", "2017-09-10T00:00", "--json")
    data = json.loads(late.stdout)
    assert data["format"] == 1 and data["now"] == "2017-09-10T00:00:00+00:00"
    [alert] = data["overdue"]
    journey = show(cli, code)
    due = journey["next_due"]
    assert alert == {
        "code": code,
        "leg": 2,
        "leg_id": "changbai-yanji-car",
        "to": "yanji",
        "due": due,
        "late_hours": alert["late_hours"],
        "last_contact": "2017-09-01T06:00:00+00:00",
        "status": "at-leg",
        "partner": None,
    }
    import datetime as dt

    hours = (dt.datetime(2017, 9, 10, tzinfo=dt.UTC) - dt.datetime.fromisoformat(due)) / (
        dt.timedelta(hours=1)
    )
    assert alert["late_hours"] == round(hours, 1)
    text = cli.ok("overdue", "--now", "2017-09-10T09:00+09:00").stdout
    assert text.startswith(f"{code}  leg 2 (changbai-yanji-car, to yanji)  due ")
    assert f"{alert['late_hours']:,.1f} h late" in text and "at-leg" in text


def test_purge_after_the_retention(cli: Cli) -> None:
    old, kept = new_journey(cli), new_journey(cli)
    cli.ok("close", old, "--at", "2017-09-01T00:00")
    cli.ok("close", kept, "--at", "2017-09-20T00:00")
    result = cli.ok("purge", "--now", "2017-10-02T00:00")
    assert result.stdout == "purged 1 journey (closed before 2017-09-02)\n"
    assert "no journey" in one_line_error(cli.run("journey", "show", old))
    assert cli.ok("purge", "--now", "2017-10-02T00:00").stdout.startswith("purged 0 journeys")
    result = cli.ok("purge", "--now", "2017-10-02T00:00", "--retention-days", "7")
    assert result.stdout == "purged 1 journey (closed before 2017-09-25)\n"
    assert cli.run("purge", "--retention-days", "-1").exit_code == 2


def test_export_writes_an_encrypted_archive_only(cli: Cli, code: str, tmp_path: Path) -> None:
    out = tmp_path / "board.export"
    result = cli.ok("export", "-o", str(out))
    assert result.stdout == "" and f"wrote {out} (1 journey, encrypted)" in result.stderr
    assert code.encode() not in out.read_bytes()
    archive = read_export(out, BoardKey.from_key_file(cli.key))
    assert [j["code"] for j in archive["journeys"]] == [code]
    assert "exists" in one_line_error(cli.run("export", "-o", str(out)))
    other_key = tmp_path / "archive.key"
    new_key_file(other_key)
    second = tmp_path / "second.export"
    cli.ok("export", "--out", str(second), "--archive-key-file", str(other_key))
    assert read_export(second, BoardKey.from_key_file(other_key))["journeys"][0]["code"] == code


def test_audit_show_and_verify_and_a_changed_row_is_named(cli: Cli, code: str) -> None:
    cli.ok("journey", "show", code)
    rows = json.loads(cli.ok("audit", "show", "--json").stdout)["audit"]
    assert [(r["action"], r["journey"]) for r in rows[:2]] == [
        ("journey.new", code),
        ("journey.read", code),
    ]
    text = cli.ok("audit", "show").stdout
    assert "local-coordinator  journey.new  " + code in text
    verified = cli.ok("audit", "verify").stdout
    assert verified.startswith("the audit log is intact: ") and "rows checked" in verified
    key = BoardKey.from_key_file(cli.key)
    with boardkit.RawDB(str(cli.db), None, key) as raw:
        raw.execute("UPDATE board_audit SET mac = ? WHERE seq = 2", (b"\0" * 32,))
    line = one_line_error(cli.run("audit", "verify"))
    assert "audit row 2" in line


# --- help and the installed command -----------------------------------------------------------


def test_help_lists_the_commands_and_choices() -> None:
    top = runner.invoke(app, ["--help"], env=CLEAN)
    assert "board" in top.stdout and COMMANDS["board"][2].split(":")[0] in top.stdout
    helps = {
        ("checkin",): [s.value for s in CheckinStatus],
        ("user", "add"): [*(r.value for r in Role), "--totp"],
        ("user",): ["passwd", "remove", "totp"],
        ("user", "totp"): ["--on", "--off"],
        ("status",): [s.value for s in JourneyStatus if s != JourneyStatus.AT_LEG],
        ("journey", "new"): ["--itinerary", "--funding", "ngo", "--partner"],
    }
    for args, words in helps.items():
        result = nk(*args, "--help")
        assert result.exit_code == 0, args
        text = " ".join(result.stdout.split())
        for word in words:
            assert word in text, (args, word)
    status_help = " ".join(nk("status", "--help").stdout.split())
    assert "at-leg" not in status_help
    group = nk("--help").stdout
    for name in (
        "init", "journey", "user", "checkin", "replan", "status", "close", "overdue", "purge",
        "export", "audit",
    ):  # fmt: skip
        assert f"  {name}" in group, name


@pytest.fixture
def installed(cli: Cli) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    yield {**env, DB_ENV: str(cli.db), KEY_FILE_ENV: str(cli.key)}


def test_the_installed_command_for_cron(cli: Cli, code: str, installed: dict[str, str]) -> None:
    run = subprocess.run(
        [str(EXE), "board", "overdue", "--now", "2017-09-10T00:00", "--json"],
        capture_output=True,
        text=True,
        env=installed,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["overdue"][0]["code"] == code
    bad = subprocess.run(
        [str(EXE), "board", "checkin", code, "--leg", "9", "--status", "ok"],
        capture_output=True,
        text=True,
        env=installed,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        f"nkescape: leg 9: journey {code}'s plan has 4 legs (1-4)"
    ]
