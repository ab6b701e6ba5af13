"""`newservice create`: parse flags, call create_service, print a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import has_terminal, report_user_errors

EPILOG = """\b
Examples:
  newservice create                      ask for everything, in a terminal
  newservice create orders --type api --database postgresql --defaults
  newservice create notifications --type worker --broker kafka --defaults
  newservice create daily-report --type cronjob --data schedule='0 3 * * *' --defaults
  newservice create orders --data port=8080 --data replicas=2 --defaults --output ~/src/orders
  newservice create orders --data-file answers.yml --defaults --pretend
  newservice create orders --defaults --template https://git.example.com/p/tpl.git --vcs-ref v2.1.0
"""


@report_user_errors
def create(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="Service name (answer service_name): a DNS-1123 label such as orders.",
            show_default=False,
        ),
    ] = None,
    service_type: Annotated[
        str | None,
        typer.Option(
            "--type", "-t", help="api, worker or cronjob (answer service_type).", show_default=False
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            help=(
                "postgresql, mysql, mongodb, dynamodb (not for a cronjob) or none (api only)"
                " (answer database)."
            ),
            show_default=False,
        ),
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option(
            help="rabbitmq, kafka, sqs, nats or redis; workers only (answer broker).",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            "-d",
            metavar="KEY=VALUE",
            help="Any answer by name; repeatable.",
            show_default=False,
        ),
    ] = None,
    data_file: Annotated[
        Path | None,
        typer.Option(
            help="YAML file of answers (e.g. another service's .copier-answers.yml).",
            show_default=False,
        ),
    ] = None,
    defaults: Annotated[
        bool,
        typer.Option("--defaults", help="Use the default for every answer not given; ask nothing."),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Folder to create (default: ./NAME).", show_default=False
        ),
    ] = None,
    pretend: Annotated[
        bool, typer.Option("--pretend", help="List what would be written; write nothing.")
    ] = False,
    template: Annotated[
        str | None,
        typer.Option(
            metavar="SRC",
            help="Git URL or path of another template repo of this layout (a fork).",
            show_default=False,
        ),
    ] = None,
    vcs_ref: Annotated[
        str | None,
        typer.Option(
            metavar="REF",
            help="Template tag or branch to render (default: the latest tag).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create a new service repository (api, worker or cronjob) from the golden-path templates.

    In a terminal, asks with prompts for every answer the flags do not give. Without a terminal,
    every answer must come from flags, --data/--data-file or --defaults. The result is a git
    repository with one commit, ready for `copier update` / `newservice update` later.
    """
    from ..answers import load_data_file, parse_data_pairs
    from ..create import create_service

    given: dict[str, Any] = load_data_file(data_file) if data_file else {}
    given.update(parse_data_pairs(data or []))
    flags = {
        "service_name": name,
        "service_type": service_type,
        "database": database,
        "broker": broker,
    }
    given.update({key: value for key, value in flags.items() if value is not None})
    asker = announce = None
    if not defaults and has_terminal():
        from ..prompts import announce_plan, ask

        asker, announce = ask, announce_plan
    result = create_service(
        given,
        output,
        template=template,
        vcs_ref=vcs_ref,
        defaults=defaults,
        pretend=pretend,
        asker=asker,
        announce=announce,
    )
    typer.echo(_summary(result))


def _summary(result: Any) -> str:
    answers = result.answers
    kind = answers["service_type"]
    extras = [f"database {answers['database']}"] if "database" in answers else []
    if "broker" in answers:
        extras.append(f"broker {answers['broker']}")
    if "schedule" in answers:
        extras.append(f"schedule '{answers['schedule']}'")
    what = (
        f"{kind} service {answers['service_name']} ({', '.join(extras)})"
        if extras
        else f"{kind} service {answers['service_name']}"
    )
    origin = f"templates {result.source.ref} from {result.source.url}"
    if result.pretend:
        return f"Would create the {what} in {result.destination} from {origin}; wrote nothing."
    try:
        shown = result.destination.relative_to(Path.cwd())
    except ValueError:
        shown = result.destination
    return "\n".join(
        [
            f"Created the {what} in {result.destination}",
            f"  {len(result.files)} files from {origin}, in a git repository with one commit.",
            "Next:",
            f"  cd {shown}",
            "  less README.md                       # how to run, test and deploy it",
            "  git remote add origin <your repo URL> && git push -u origin main",
            "  newservice update                    # later: pull template improvements",
        ]
    )
