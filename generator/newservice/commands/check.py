"""`newservice check [PATH]`: hold a repo (generated or not) to the platform contract."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import BadAnswerError
from ._common import report_user_errors

EPILOG = """\b
Examples:
  newservice check                       the repo in the current folder, static checks
  newservice check ~/src/orders --json   the same as JSON
  newservice check --live --env DATABASE_URL=postgresql://127.0.0.1/orders --python .venv/bin/python
\b
Exit status: 0 the repo meets the contract, 1 findings, 2 bad input.
"""


@report_user_errors
def check(
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="The repo to check (default: here).")
    ] = Path("."),
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Also start the service (python -m <package>) and check it running."
        ),
    ] = False,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            "-e",
            metavar="KEY=VALUE",
            help="Environment for --live, on top of the current one; repeatable.",
            show_default=False,
        ),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            help="Interpreter with the service's dependencies, for --live (default: the repo's "
            ".venv/bin/python if it exists, else the one running newservice).",
            show_default=False,
        ),
    ] = None,
    startup_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="How long --live waits for /startupz.")
    ] = 60,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a repo against the platform contract: manifests (probes, resources, security
    context, shutdown grace, ServiceMonitor, PDB, NetworkPolicy), Dockerfile (non-root, exec
    form) and workflows (pinned actions, least privilege); with --live, the running service.
    """
    from dataclasses import replace

    from ..contract import check_live, check_static, live_options

    repo = path.absolute()
    if not repo.is_dir():
        raise BadAnswerError("PATH", f"{path} is not a folder")
    given = _parse_env(env or [])
    if startup_timeout <= 0:
        raise BadAnswerError("--startup-timeout", "--startup-timeout must be above 0 seconds")
    options = None
    if live:
        interpreter = python or _default_python(repo)
        options = replace(live_options(repo, interpreter, given), startup_timeout=startup_timeout)
    report = check_static(repo)
    if options is not None:
        check_live(repo, options, report)
    if json_output:
        typer.echo(json.dumps({"path": str(repo), "live": live, **report.as_json()}, indent=2))
    elif report.findings:
        for finding in report.findings:
            typer.echo(finding.line())
        typer.echo(
            f"{len(report.findings)} finding(s) in {report.checks} checks of the platform contract."
        )
    else:
        typer.echo(f"{repo} meets the platform contract ({report.checks} checks passed).")
    raise typer.Exit(1 if report.findings else 0)


def _parse_env(pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadAnswerError("--env", f"--env takes KEY=VALUE; got '{pair}'")
        result[key] = value
    return result


def _default_python(repo: Path) -> str:
    venv = repo / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable
