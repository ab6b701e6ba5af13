"""`newservice update`: parse flags, call update_service, print what happened."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import BadAnswerError
from ._common import has_terminal, report_user_errors

EPILOG = """\b
Examples:
  newservice update                      update the service in the current folder to the latest tag
  newservice update ~/src/orders --vcs-ref v2.0.0
  newservice update --data replicas=5    change an answer while updating
  newservice update --conflict rej       conflicting changes of yours go to FILE.rej
  newservice update --template https://git.example.com/platform/templates.git   the fork moved
  copier update --defaults               the same, without newservice installed
"""


@report_user_errors
def update(
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="Folder of a service made by newservice create.")
    ] = Path("."),
    vcs_ref: Annotated[
        str | None,
        typer.Option(
            metavar="REF",
            help="Template tag to update to (default: the latest tag).",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            "-d",
            metavar="KEY=VALUE",
            help="Change an answer; repeatable.",
            show_default=False,
        ),
    ] = None,
    conflict: Annotated[
        str,
        typer.Option(
            metavar="inline|rej",
            help="Conflicts as markers in the file (inline), or the template's version in the "
            "file and your rejected change in FILE.rej (rej).",
        ),
    ] = "inline",
    prompt: Annotated[
        bool, typer.Option("--prompt", help="Ask the questions again (needs a terminal).")
    ] = False,
    template: Annotated[
        str | None,
        typer.Option(
            metavar="SRC",
            help="The template's new URL or path, when it moved (it must hold the version "
            "recorded in .copier-answers.yml); recorded from then on.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Update a generated service to a newer template version, keeping your edits.

    Runs copier update with the recorded answers. Refuses uncommitted changes and a change of
    service_type. Exits 1 and lists the files when the merge leaves conflicts to resolve.
    """
    from ..answers import parse_data_pairs
    from ..errors import UpdateConflictError
    from ..update import update_service

    if conflict not in ("inline", "rej"):
        raise BadAnswerError("--conflict", f"--conflict must be inline or rej; got '{conflict}'")
    try:
        result = update_service(
            path,
            vcs_ref=vcs_ref,
            data=parse_data_pairs(data or []),
            ask=prompt and has_terminal(),
            conflict="rej" if conflict == "rej" else "inline",
            template=template,
        )
    except UpdateConflictError as error:
        _print_notes(error.notes)
        raise
    _print_notes(result.notes)
    if result.old_commit == result.new_commit and not result.changed:
        typer.echo(f"{result.path} is already at template {result.new_commit}; nothing changed.")
        return
    typer.echo(
        f"Updated {result.path} from template {result.old_commit} to {result.new_commit}: "
        f"{len(result.changed)} path(s) changed and left uncommitted."
    )
    for name in result.changed:
        typer.echo(f"  {name}")
    for old, new in result.carried:
        typer.echo(f"The template renamed {old} to {new}: your edits of {old} were merged into it.")
    typer.echo(
        "Next: review with `git diff`, run the tests, then `git commit -am 'Update template'`."
    )


def _print_notes(notes: list[tuple[object, str]]) -> None:
    """The upgrade notes of each release passed, from the new version's CHANGELOG.md."""
    for version, text in notes:
        typer.echo(f"Upgrade notes for {version} (from CHANGELOG.md):")
        for line in text.splitlines():
            typer.echo(f"  {line}" if line else "")
        typer.echo("")
