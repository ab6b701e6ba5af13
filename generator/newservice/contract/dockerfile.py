"""The contract in a repo's Dockerfile: the final stage runs as a numeric non-root uid:gid, and
starts with an exec-form CMD or ENTRYPOINT (the interpreter is PID 1 and receives SIGTERM).

A small reader of the instructions (comments dropped, continuation lines joined); only the last
stage (from the last FROM) counts, since that is the image that runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .findings import Report

NAMES = ("Dockerfile", "Containerfile")
_UID_GID = re.compile(r"^(\d+):(\d+)$")


def find_dockerfiles(repo: Path) -> list[Path]:
    """Dockerfile / Containerfile at the root, else *.Dockerfile / Dockerfile.* at the root."""
    found = [repo / name for name in NAMES if (repo / name).is_file()]
    if not found:
        found = sorted(p for p in repo.glob("*Dockerfile*") if p.is_file())
    return found


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments and blanks dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comments may sit inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, args = full.partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def check_dockerfile(repo: Path, report: Report) -> None:
    files = find_dockerfiles(repo)
    if not report.expect(bool(files), "Dockerfile", "image", "a Dockerfile", "none"):
        return
    for path in files:
        name = path.relative_to(repo).as_posix()
        steps = instructions(path.read_text(errors="replace"))
        starts = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"]
        final = steps[starts[-1] :] if starts else steps
        _check_user(final, name, report)
        _check_start(final, name, report)


def _check_user(final: list[tuple[str, str]], name: str, report: Report) -> None:
    users = [args for keyword, args in final if keyword == "USER"]
    user = users[-1] if users else None
    match = _UID_GID.match(user or "")
    report.expect(
        match is not None and match.group(1) != "0" and match.group(2) != "0",
        name,
        "USER",
        "the final stage runs as a numeric non-root uid:gid (e.g. USER 10001:10001)",
        f"USER {user}" if user else "no USER (the image runs as root)",
    )


def _check_start(final: list[tuple[str, str]], name: str, report: Report) -> None:
    starts = [(keyword, args) for keyword, args in final if keyword in ("CMD", "ENTRYPOINT")]
    if not report.expect(
        bool(starts), name, "CMD", "a CMD or ENTRYPOINT in exec form", "neither in the final stage"
    ):
        return
    last = {keyword: args for keyword, args in starts}  # the last of each kind wins
    for keyword, args in last.items():
        report.expect(
            _is_exec_form(args),
            name,
            keyword,
            f'exec form ({keyword} ["executable", "arg"]), so that the process gets SIGTERM',
            f"shell form: {keyword} {args}",
        )


def _is_exec_form(args: str) -> bool:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return False
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
