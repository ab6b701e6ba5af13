"""The contract in a repo's GitHub Actions workflows: every action pinned to a full commit SHA,
and least-privilege permissions (top level: contents read, nothing written; no job write-all).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .findings import Report

_PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")


def find_workflows(repo: Path) -> list[Path]:
    folder = repo / ".github" / "workflows"
    return sorted(p for p in folder.glob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def check_workflows(repo: Path, report: Report) -> None:
    import yaml

    files = find_workflows(repo)
    if not report.expect(
        bool(files),
        ".github/workflows",
        "workflow",
        "a CI workflow (.github/workflows/*.yml)",
        "none",
    ):
        return
    for path in files:
        name = path.relative_to(repo).as_posix()
        try:
            workflow = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            report.expect(False, name, "workflow", "valid YAML", f"a parse error: {error}")
            continue
        if not isinstance(workflow, dict):
            report.expect(False, name, "workflow", "a mapping with jobs", type(workflow).__name__)
            continue
        _check_top_permissions(
            workflow.get("permissions", None), "permissions" in workflow, name, report
        )
        for job_id, job in (workflow.get("jobs") or {}).items():
            if isinstance(job, dict):
                _check_job(str(job_id), job, name, report)


def _check_top_permissions(permissions: Any, present: bool, name: str, report: Report) -> None:
    """Top level: a mapping with contents: read (or no scope at all: `{}`), no write scope."""
    contract = "top-level permissions: contents: read, and no write scope"
    if not present:
        found = "no top-level permissions (the token gets the repository default, often write)"
        report.expect(False, name, "permissions", contract, found)
        return
    if not isinstance(permissions, dict):
        report.expect(False, name, "permissions", contract, f"permissions: {permissions}")
        return
    writes = sorted(str(k) for k, v in permissions.items() if v == "write")
    report.expect(not writes, name, "permissions", contract, f"write for {', '.join(writes)}")
    contents = permissions.get("contents")
    if contents == "write":
        return  # reported just above
    report.expect(
        contents == "read" or not permissions,
        name,
        "permissions.contents",
        "read",
        str(contents) if contents is not None else "unset",
    )


def _check_job(job_id: str, job: dict[str, Any], name: str, report: Report) -> None:
    permissions = job.get("permissions")
    if permissions is not None:
        report.expect(
            permissions != "write-all",
            name,
            f"jobs.{job_id}.permissions",
            "only the scopes the job needs (never write-all)",
            "write-all",
        )
    uses = [job["uses"]] if isinstance(job.get("uses"), str) else []
    uses += [s["uses"] for s in job.get("steps") or [] if isinstance(s, dict) and "uses" in s]
    for ref in uses:
        ref = str(ref)
        if ref.startswith("./") or (ref.startswith("docker://") and "@sha256:" in ref):
            report.checks += 1  # a local action or an image pinned by digest
            continue
        report.expect(
            bool(_PINNED.match(ref)),
            name,
            f"jobs.{job_id} uses",
            "actions pinned to a full 40-character commit SHA",
            ref,
        )
