"""What the subcommands share: loading the atlas, the output conventions, and one-line errors.

The conventions every command keeps: results on standard output; errors, warnings, progress and
the names of the files written on standard error, each error one line ``nkescape: ...``; exit 1
for bad input or no result and 2 for a usage error (``EXIT_CODES``). This module imports no
NumPy, SciPy or plotting at import time, so that ``--help`` stays fast: the library is imported
inside the functions that need it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from nkescape.atlas import Atlas

OVERLAY_ENV = "NKESCAPE_OVERLAY"
PROG_ENV = "NKESCAPE_PROG"

# The help's epilog and the package docstring say the same; the tests hold the CLI to it.
EXIT_CODES = (
    "Exit codes: 0 success; 1 bad input or no result (an invalid atlas, an unknown place, a date "
    "outside the atlas, no way out); 2 a usage error (an unknown command or option, a choice not "
    "offered, a value of the wrong type). Results go to standard output; errors (one line, "
    "'nkescape: ...'), warnings, progress and the files written go to standard error."
)

Overlay = Annotated[
    list[Path] | None,
    typer.Option(
        "--overlay",
        help="A private atlas directory layered over the atlas (repeatable); also "
        f"${OVERLAY_ENV}, paths separated by ':'.",
        metavar="DIR",
        show_default=False,
    ),
]


Parameters = Annotated[
    Path | None,
    typer.Option(
        "--parameters",
        help="A flow-model posterior (from the `flows fit` command, e.g. "
        "out/flows/posterior.json): plan and simulate with China's hiding risk calibrated to it.",
        metavar="FILE",
        show_default=False,
    ),
]

Force = Annotated[
    bool, typer.Option("--force", help="Replace the results already in --out.", show_default=False)
]


def scheduler_option(value: str | None) -> str | None:
    """Check a ``--scheduler`` (``nkescape.tasks.check_scheduler``); a bad one is a usage error."""
    from nkescape.tasks import SchedulerError, check_scheduler

    try:
        return check_scheduler(value)
    except SchedulerError as exc:
        raise typer.BadParameter(str(exc)) from None


def prog() -> str:
    """The command as the user ran it (``./scripts/nk`` sets it), for messages on what to run."""
    return os.environ.get(PROG_ENV) or Path(sys.argv[0]).name or "nkescape"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit with ``code`` (1: bad input or no result, 2: usage)."""
    one_line = "; ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"nkescape: {one_line}", file=sys.stderr)
    raise typer.Exit(code)


def note(message: str) -> None:
    """One line on stderr that is not a result (what was written, what was replaced)."""
    print(f"nkescape: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """One warning line on stderr, so that standard output holds only results."""
    note(f"warning: {message}")


def announce(paths: Sequence[Path], detail: str = "") -> None:
    """Say on stderr which files a command wrote (every file written is announced)."""
    if paths:
        note("wrote " + ", ".join(str(p) for p in paths) + (f" ({detail})" if detail else ""))


def run_folder(out: Path | None, default: Path, *, force: bool, marker: str) -> Path:
    """The folder a run writes to, never silently over an earlier run.

    ``marker`` is the file every run of the command writes there (``summary.json``). An explicit
    ``--out`` that already holds one is refused unless ``force``; the default folder, when it holds
    one, gives way to the first free ``default-2``, ``default-3``... so that repeating a command
    keeps both runs.
    """
    if out is not None:
        if (out / marker).exists() and not force:
            fail(
                f"--out: {out} already holds a run ({marker}); pass --force to replace it, or "
                "choose another folder"
            )
        return out
    if force or not (default / marker).exists():
        return default
    n = 2
    while (default.with_name(f"{default.name}-{n}") / marker).exists():
        n += 1
    return default.with_name(f"{default.name}-{n}")


@contextmanager
def library_errors() -> Iterator[None]:
    """Turn the library's errors on bad input (all ``ValueError``) into one line and exit 1.

    ``PlanError``, ``SimulationError``, ``PosteriorError`` and ``AtlasError`` subclass
    ``ValueError``; an atlas error lists its problems first, one per line, as ``load`` does.
    Anything else is a bug, and ``nkescape.cli.main`` reports it as one.
    """
    try:
        yield
    except ValueError as exc:
        from nkescape.atlas import AtlasError

        if isinstance(exc, AtlasError):
            _fail_problems([str(p) for p in exc.problems])
        fail(str(exc) or type(exc).__name__)


def _fail_problems(problems: Sequence[str]) -> NoReturn:
    for problem in problems:
        print(problem, file=sys.stderr)
    n = len(problems)
    fail(f"the atlas has {n} problem{'s' if n != 1 else ''} (listed above)")


def with_parameters(atlas: Atlas, path: Path | None) -> Atlas:
    """``atlas`` calibrated by the posterior at ``path`` (unchanged when None), or exit 1."""
    if path is None:
        return atlas
    # Imported here: the flow model pulls in emcee and Dask, which plain planning never needs.
    from nkescape.atlas import AtlasError
    from nkescape.flows.calibrate import PosteriorError, load_posterior
    from nkescape.flows.calibrated import calibrated_atlas
    from nkescape.flows.parameters import load_config

    try:
        posterior = load_posterior(path, load_config(atlas).names)
        return calibrated_atlas(atlas, posterior)
    except PosteriorError as exc:
        fail(str(exc))
    except AtlasError as exc:
        fail(f"the flow parameters file has problems: {exc.problems[0]}")
    except ValueError as exc:
        fail(str(exc))


# Output to a pipe or a file is as wide as a common terminal, so that it reads the same in a
# pager or an editor; a terminal gets its own width. COLUMNS, when set, wins in both cases.
PIPE_WIDTH = 100


def width() -> int | None:
    """The width tables and text are laid out for (None: the terminal's own)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else PIPE_WIDTH


def console() -> Console:
    """A console for standard output, made per command so it sees the current stdout.

    Long lines wrap at the width (no soft wrap), so that no line of a result is wider than it.
    """
    from rich.console import Console

    return Console(width=width(), soft_wrap=False)


def stderr_console() -> Console:
    """A console on standard error, for progress bars and spinners."""
    from rich.console import Console

    return Console(stderr=True)


def overlays_from(option: Sequence[Path] | None) -> list[Path]:
    from_env = [Path(p) for p in os.environ.get(OVERLAY_ENV, "").split(os.pathsep) if p]
    return [*from_env, *(option or [])]


def load(dirs: Sequence[Path] | None, overlay: Sequence[Path] | None) -> Atlas:
    """Load the atlas or exit 1 printing every problem, one per line; warnings go to stderr."""
    from nkescape.atlas import AtlasError, load_atlas

    try:
        atlas = load_atlas(*(dirs or []), overlays=overlays_from(overlay))
    except AtlasError as exc:
        _fail_problems([str(p) for p in exc.problems])
    for warning in atlas.warnings:
        warn(warning)
    return atlas
