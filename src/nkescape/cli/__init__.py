"""The ``nkescape`` command: a thin layer over the library, one library call per subcommand.

Exit codes: 0 success, 1 a problem with the input data (an invalid atlas), 2 a usage error.
"""

from __future__ import annotations

import os
import sys

import typer

from nkescape.cli import atlas as atlas_cli
from nkescape.cli import flows as flows_cli
from nkescape.cli.plan import options_command, plan_command
from nkescape.cli.simulate import simulate_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="nkescape",
    help="Model the escape network North Korean refugees use: routes, risks, costs and flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(atlas_cli.app, name="atlas")
app.add_typer(flows_cli.app, name="flows")
app.command("plan")(plan_command)
app.command("options")(options_command)
app.command("simulate")(simulate_command)


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
