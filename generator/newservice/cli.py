"""The `newservice` command: a thin typer app over create_service and update_service.

Imports here stay light (typer only): copier is imported when a command runs, not for --help.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .commands import check as check_command
from .commands import create as create_command
from .commands import status as status_command
from .commands import update as update_command

app = typer.Typer(
    name="newservice",
    help="The platform's golden path: create a production-ready service repository, and keep it "
    "current with template updates.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: no rich import, faster start-up
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("create", epilog=create_command.EPILOG)(create_command.create)
app.command("update", epilog=update_command.EPILOG)(update_command.update)
app.command("status", epilog=status_command.EPILOG)(status_command.status)
app.command("check", epilog=check_command.EPILOG)(check_command.check)


def _print_version(value: bool) -> None:
    if value:
        from .source import package_version

        typer.echo(f"newservice {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """The platform's golden path: create a service repository, keep it current with updates."""


def main() -> None:
    app(prog_name="newservice")
