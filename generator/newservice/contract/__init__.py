"""`newservice check`: the platform contract (see DESIGN.md) as checks any repo can run.

One module per area, each adding to one Report: manifests.py (probes, resources, security context,
shutdown grace, ServiceMonitor / PDB / NetworkPolicy), dockerfile.py (non-root numeric user,
exec-form start), workflow.py (actions pinned by SHA, least-privilege token), live.py (the service
as a real process: probes, metrics, JSON logs, SIGTERM).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ..errors import BadAnswerError
from .dockerfile import check_dockerfile
from .findings import Finding, Report
from .live import LiveOptions, check_live
from .manifests import LONG_RUNNING, check_manifests, load_manifests, shutdown_timeout
from .workflow import check_workflows

__all__ = ["Finding", "LiveOptions", "Report", "check_live", "check_static", "live_options"]


def check_static(repo: Path) -> Report:
    """The static checks of the repo at `repo`: manifests, Dockerfile, workflows."""
    report = Report()
    check_manifests(repo, report)
    check_dockerfile(repo, report)
    check_workflows(repo, report)
    return report


def live_options(repo: Path, python: str, env: dict[str, str]) -> LiveOptions:
    """What --live starts and how long it may take; BadAnswerError when it cannot tell."""
    manifests = load_manifests(repo)
    kinds = {m.kind for m in manifests}
    if "CronJob" in kinds and not kinds & set(LONG_RUNNING):
        raise BadAnswerError(
            "--live",
            f"{repo} is a cron job (python -m <package> runs once and exits); --live checks a "
            "long-running service (an api or a worker)",
        )
    drain: float = shutdown_timeout(manifests) or 30
    if "SHUTDOWN_TIMEOUT" in env:
        try:
            drain = float(env["SHUTDOWN_TIMEOUT"])
        except ValueError:
            raise BadAnswerError(
                "--env",
                f"SHUTDOWN_TIMEOUT must be a number of seconds; got {env['SHUTDOWN_TIMEOUT']!r}",
            ) from None
    return LiveOptions(
        python=python, package=service_package(repo), env=env, shutdown_timeout=drain
    )


def service_package(repo: Path) -> str:
    """The package `python -m` starts: the answers file's service_name, else pyproject's name,
    as an importable name ('-' -> '_'); it must hold a __main__.py."""
    candidates = []
    answers = repo / ".copier-answers.yml"
    if answers.is_file():
        import yaml

        data = yaml.safe_load(answers.read_text()) or {}
        if isinstance(data, dict) and data.get("service_name"):
            candidates.append(str(data["service_name"]))
    pyproject = repo / "pyproject.toml"
    if pyproject.is_file():
        try:
            name = tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
        except tomllib.TOMLDecodeError:
            name = None
        if name:
            candidates.append(str(name))
    for candidate in candidates:
        package = re.sub(r"[-.]+", "_", candidate).lower()
        if (repo / package / "__main__.py").is_file():
            return package
    raise BadAnswerError(
        "--live",
        f"cannot tell which package to start in {repo}: no <package>/__main__.py for the "
        "service_name in .copier-answers.yml or the project name in pyproject.toml",
    )
