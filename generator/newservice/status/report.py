"""How `newservice status` shows a fleet: a rich table, JSON, and the exit status for CI.

Exit status (the highest that applies):
  0  every repo is at the newest release
  1  some repos are behind, and every update would merge cleanly
  3  some repo's update would conflict
  4  some repo could not be assessed (unreadable answers, template source gone, update failed)
(2 is bad input: a folder that does not exist, or no generated repo under the folders given.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from .core import RepoStatus

EXIT_CURRENT, EXIT_BEHIND, EXIT_CONFLICT, EXIT_UNKNOWN = 0, 1, 3, 4
_EXIT_BY_STATE = {
    "current": EXIT_CURRENT,
    "behind": EXIT_BEHIND,
    "conflict": EXIT_CONFLICT,
    "unknown": EXIT_UNKNOWN,
}
_STYLE = {"current": "green", "behind": "yellow", "conflict": "bold red", "unknown": "magenta"}


def exit_status(rows: Sequence[RepoStatus]) -> int:
    return max((_EXIT_BY_STATE[row.state] for row in rows), default=EXIT_CURRENT)


def to_json(rows: Sequence[RepoStatus]) -> str:
    counts = {state: sum(row.state == state for row in rows) for state in _EXIT_BY_STATE}
    return json.dumps(
        {"repos": [row.as_json() for row in rows], "summary": counts},
        indent=2,
    )


def print_table(rows: Sequence[RepoStatus], base: Path, file: IO[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Template status of the repos under {base}", title_justify="left")
    for column in ("repo", "type", "answers", "source", "version", "newest", "behind", "tree"):
        table.add_column(column, no_wrap=column not in ("answers", "source"), overflow="fold")
    table.add_column("update to newest", overflow="fold", min_width=12)
    for row in rows:
        table.add_row(
            _relative(row.path, base),
            row.service_type or "?",
            ", ".join(f"{k}={v}" for k, v in row.answers.items()),
            row.source or "?",
            row.version or "?",
            row.newest or "?",
            "?" if row.behind is None else str(row.behind),
            "[yellow]dirty[/]" if row.dirty else "clean",
            f"[{_STYLE[row.state]}]{_verdict(row)}[/]",
        )
    console = Console(file=file, soft_wrap=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)  # logs and CI: no terminal width to fit
    console.print(table)
    counts = {state: sum(row.state == state for row in rows) for state in _EXIT_BY_STATE}
    console.print(
        f"{len(rows)} repo(s): {counts['current']} current, {counts['behind']} behind "
        f"(clean update), {counts['conflict']} would conflict, {counts['unknown']} unknown."
    )


def _verdict(row: RepoStatus) -> str:
    if row.error is not None:
        return f"unknown: {row.error}"
    if row.conflicts:
        return "CONFLICT: " + ", ".join(row.conflicts)
    return "clean merge" if row.behind else "up to date"


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)
