"""What the subcommands share: loading the atlas with overlays, and printing errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from nkescape.atlas import Atlas, AtlasError, load_atlas

OVERLAY_ENV = "NKESCAPE_OVERLAY"

Overlay = Annotated[
    list[Path] | None,
    typer.Option(
        "--overlay",
        help="A private atlas directory layered over the atlas (repeatable); also "
        f"${OVERLAY_ENV}, paths separated by ':'.",
        show_default=False,
    ),
]


Parameters = Annotated[
    Path | None,
    typer.Option(
        "--parameters",
        help="A flow-model posterior (from `nkescape flows fit`, e.g. out/flows/posterior.json): "
        "plan and simulate with China's hiding risk calibrated to it.",
        show_default=False,
    ),
]


def with_parameters(atlas: Atlas, path: Path | None) -> Atlas:
    """``atlas`` calibrated by the posterior at ``path`` (unchanged when None), or exit 1."""
    if path is None:
        return atlas
    # Imported here: the flow model pulls in emcee and Dask, which plain planning never needs.
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


# Tables written to a pipe or a file get room to breathe instead of rich's 80-column default.
_PIPE_WIDTH = 200


def console() -> Console:
    """A console for standard output, made per command so it sees the current stdout."""
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else _PIPE_WIDTH)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    print(f"nkescape: {message}", file=sys.stderr)
    raise typer.Exit(code)


def overlays_from(option: Sequence[Path] | None) -> list[Path]:
    from_env = [Path(p) for p in os.environ.get(OVERLAY_ENV, "").split(os.pathsep) if p]
    return [*from_env, *(option or [])]


def load(dirs: Sequence[Path] | None, overlay: Sequence[Path] | None) -> Atlas:
    """Load the atlas or exit 1 printing every problem, one per line."""
    try:
        return load_atlas(*(dirs or []), overlays=overlays_from(overlay))
    except AtlasError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        fail(f"the atlas has {n} problem{'s' if n != 1 else ''} (listed above)")
