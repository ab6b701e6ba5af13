"""`newservice status DIR...`: template versions and predicted update conflicts of a fleet."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import BadAnswerError
from ._common import report_user_errors

if TYPE_CHECKING:
    from ..status import RepoStatus

EPILOG = """\b
Examples:
  newservice status ~/src                 every generated repo under ~/src, as a table
  newservice status services/ --json      the same as JSON, for scripts
  newservice status . --jobs 1            one repo at a time
\b
Exit status: 0 all at the newest release, 1 some behind (updates merge cleanly),
3 some update would conflict, 4 some repo could not be assessed, 2 bad input.
"""


@report_user_errors
def status(
    folders: Annotated[
        list[Path],
        typer.Argument(
            metavar="DIR", help="Folders to search for generated repos.", show_default=False
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Trial updates run in parallel (default: the number of cores).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show each generated repo's template version, how far behind it is, and whether updating
    to the newest release would conflict (tried in a throwaway clone; the repo is not touched).
    """
    for folder in folders:
        if not folder.is_dir():
            raise BadAnswerError("DIR", f"{folder} is not a folder")
    if jobs is not None and jobs < 1:
        raise BadAnswerError("--jobs", f"--jobs must be 1 or more; got {jobs}")
    from ..status import find_repos
    from ..status.report import exit_status, print_table, to_json

    repos = find_repos(folders)
    if not repos:
        names = ", ".join(str(folder) for folder in folders)
        raise BadAnswerError(
            "DIR", f"no generated repository (a folder with .copier-answers.yml) under {names}"
        )
    rows = _run_with_progress(repos, jobs)
    if json_output:
        typer.echo(to_json(rows))
    else:
        print_table(rows, Path(os.path.commonpath([f.absolute() for f in folders])))
    raise typer.Exit(exit_status(rows))


def _run_with_progress(repos: list[Path], jobs: int | None) -> list[RepoStatus]:
    from ..status import fleet_status

    if not sys.stderr.isatty():
        return fleet_status(repos, jobs=jobs)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        auto_refresh=False,  # no refresh thread: the trial updates run in forked processes
    ) as progress:
        task = progress.add_task("checking repos", total=len(repos))

        def advance() -> None:
            progress.advance(task)
            progress.refresh()

        progress.refresh()
        return fleet_status(repos, jobs=jobs, advance=advance)
