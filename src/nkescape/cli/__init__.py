"""The ``nkescape`` command: a thin layer over the library, one library call per subcommand.

Exit codes: 0 success; 1 bad input or no result (an invalid atlas, an unknown place, a date
outside the atlas, no way out); 2 a usage error (an unknown command or option, a choice not
offered, a value of the wrong type; also a group run without a command, which prints its help).
Every error is one line on standard error, ``nkescape: ...``, never a traceback or a box;
results go to standard output, and warnings, progress and the names of the files written to
standard error (see ``nkescape.cli._common``).

``--help`` stays fast because a subcommand's module, and with it NumPy, SciPy, matplotlib and
the flow model, is imported only when that subcommand runs (or shows its own help).
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from nkescape.cli._common import EXIT_CODES, PROG_ENV, prog

try:  # Typer 0.2x carries its own copy of Click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - older Typer, on Click itself
    from click.exceptions import ClickException, NoArgsIsHelpError  # type: ignore[assignment]

__all__ = ["COMMANDS", "app", "main"]

# Each subcommand: the module and attribute that define it (a Typer app for a group, else a
# function), and the line the top-level help lists it with. The line is written here so that
# the top-level help imports no subcommand; a test holds it to the command's own help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "plan": (
        "nkescape.cli.plan",
        "plan_command",
        "Plan the ways out for a person or group: probabilities, days and dollars, explained.",
    ),
    "options": (
        "nkescape.cli.plan",
        "options_command",
        "List the channels open to a profile, each with its best itinerary's figures.",
    ),
    "simulate": (
        "nkescape.cli.simulate",
        "simulate_command",
        "Simulate many journeys along a planned itinerary: odds, days and dollars with intervals.",
    ),
    "atlas": ("nkescape.cli.atlas", "app", "Check, show and export the atlas."),
    "flows": (
        "nkescape.cli.flows",
        "app",
        "The flow model: yearly escapes and arrivals, fitted, with scenarios.",
    ),
    "serve": (
        "nkescape.cli.serve",
        "serve_command",
        "Serve the dashboard: the network, planner, simulator and flows as an offline web page.",
    ),
    "board": (
        "nkescape.cli.board",
        "app",
        "The coordination board: journeys under way, check-ins and overdue alerts, kept encrypted.",
    ),
}

# Typer's rich help panel prints a type after every option, flags included ("--json <bool>"),
# and draws errors in boxes; Click's plain help (markup mode None) shows a type only for options
# that take a value, and lets errors be one line. Every group and command inherits it.
_MARKUP: Any = None


def load_command(name: str) -> Any:
    """The Click command for subcommand ``name``, built from its module (imported now)."""
    module, attr, _ = COMMANDS[name]
    target = getattr(importlib.import_module(module), attr)
    holder = typer.Typer(rich_markup_mode=_MARKUP, add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name, epilog=EXIT_CODES)(target)
    return typer.main.get_group(holder).commands[name]


class _Root(TyperGroup):
    """The top-level group: subcommands load on first use; usage errors print as one line."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # The listing uses the lines above, so that `nkescape --help` imports no subcommand.
        with formatter.section("Commands"):
            formatter.write_dl([(name, line) for name, (_, _, line) in COMMANDS.items()])

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            ctx.fail(f"no command {name!r}{hint}; commands: {', '.join(COMMANDS)}")
        return super().resolve_command(ctx, args)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run; a usage error is one line and exit 2, whoever calls (the script, a test runner)."""
        try:
            code = super().main(
                args=args,
                # NKESCAPE_PROG (set by ./scripts/nk) wins, so that every message agrees.
                prog_name=os.environ.get(PROG_ENV) or prog_name or prog(),
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except NoArgsIsHelpError as exc:  # a group without its command: its help, exit 2
            print(exc.format_message())
            _exit(exc.exit_code, standalone_mode)
        except ClickException as exc:
            _usage_line(exc)
            _exit(exc.exit_code, standalone_mode)
        except typer.Abort:  # Ctrl-C or end of input at a prompt
            print("nkescape: aborted", file=sys.stderr)
            _exit(1, standalone_mode)
        _exit(code if isinstance(code, int) else 0, standalone_mode)


def _usage_line(exc: Any) -> None:
    """``nkescape: <what is wrong> (see <command> --help)`` on one line."""
    # Typer's value checks pass on pydantic's prefix ("Value error, 'x' is not one of ...").
    message = exc.format_message().replace("Value error, ", "")
    message = "; ".join(line.strip() for line in message.splitlines() if line.strip())
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else prog()
    hint = f" (see {where} --help)" if getattr(exc, "exit_code", 1) == 2 else ""
    print(f"nkescape: {message}{hint}", file=sys.stderr)


def _exit(code: int, standalone: bool) -> NoReturn:
    if standalone:
        sys.exit(code)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from nkescape import __version__

        print(f"nkescape {__version__}")
        raise typer.Exit(0)


app = typer.Typer(
    name="nkescape",
    cls=_Root,
    help="Model the escape network North Korean refugees use: routes, risks, costs and flows.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=_MARKUP,
    # Help is laid out for the terminal's width up to 100 columns (Click's cap is 80).
    context_settings={"max_content_width": 100},
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Model the escape network North Korean refugees use: routes, risks, costs and flows."""


def main() -> None:
    """Entry point: run the app; an unexpected failure prints one line, not a traceback."""
    try:
        app()
    except Exception as exc:  # the last guard: users get one line; NKESCAPE_DEBUG shows more
        if os.environ.get("NKESCAPE_DEBUG"):
            raise
        print(
            f"nkescape: internal error: {type(exc).__name__}: {exc} "
            "(set NKESCAPE_DEBUG=1 for details and please report it)",
            file=sys.stderr,
        )
        sys.exit(1)
