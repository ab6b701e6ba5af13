"""`update_service`: pull a newer template version into a generated service with copier update.

Refused up front, with one sentence: a folder that is not a generated git repo, uncommitted
changes (copier needs a clean tree to compute its three-way merge), and a change of service_type
(copier would delete the old type's files). Conflicts do not change copier's exit status, so they
are found here afterwards: unmerged paths in the index and leftover *.rej files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .cache import reading
from .errors import (
    DirtyTreeError,
    NotAServiceError,
    ServiceTypeChangeError,
    UpdateConflictError,
    UpdateFailedError,
)
from .git import git, is_dirty, is_work_tree
from .source import check_ref

ANSWERS_FILE = ".copier-answers.yml"
_UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


@dataclass(frozen=True)
class UpdateResult:
    """The template versions before and after, and what changed in the work tree."""

    path: Path
    old_commit: str | None
    new_commit: str | None
    changed: list[str]


def update_service(
    path: Path = Path("."),
    *,
    vcs_ref: str | None = None,
    data: Mapping[str, Any] | None = None,
    ask: bool = False,
    conflict: Literal["inline", "rej"] = "inline",
) -> UpdateResult:
    """Update the service at `path`; raise UpdateConflictError (exit 1) when files conflict.

    `conflict`: "inline" writes conflict markers into the file (and marks it unmerged); "rej"
    writes the template's version and leaves your rejected change in FILE.rej.
    """
    path = path.absolute()
    recorded = _read_answers(path)
    if not is_work_tree(path):
        raise NotAServiceError(
            f"{path} is not a git repository; copier update needs the service's git history"
        )
    if is_dirty(path):
        raise DirtyTreeError(
            f"{path} has uncommitted changes; commit or stash them, then run the update again"
        )
    _refuse_type_change(path, recorded, data or {})
    source = str(recorded["_src_path"])
    check_ref(source, vcs_ref, f"the template source {source} recorded in {ANSWERS_FILE}")
    from copier import run_update
    from copier.errors import UserMessageError

    try:
        with reading(source):  # copier clones the old and the new version from it
            run_update(
                path,
                data=dict(data or {}),
                vcs_ref=vcs_ref,
                defaults=not ask,
                skip_answered=not ask,
                overwrite=True,
                quiet=True,
                conflict=conflict,
                unsafe=False,
            )
    except UserMessageError as error:
        raise UpdateFailedError(f"copier refused the update: {error}") from None
    conflicts = find_conflicts(path)
    if conflicts:
        raise UpdateConflictError(conflicts)
    changed = [line[3:] for line in git("status", "--porcelain", cwd=path).splitlines()]
    new = _read_answers(path)
    return UpdateResult(path, recorded.get("_commit"), new.get("_commit"), changed)


def find_conflicts(path: Path) -> list[str]:
    """Unmerged paths and *.rej files (ignored ones included) left by an update."""
    out = git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=path)
    found = set()
    for line in out.splitlines():
        status, name = line[:2], line[3:]
        if status in _UNMERGED or (status in {"??", "!!"} and name.endswith(".rej")):
            found.add(name)
    return sorted(found)


def _read_answers(path: Path) -> dict[str, Any]:
    import yaml

    answers_path = path / ANSWERS_FILE
    if not answers_path.is_file():
        raise NotAServiceError(
            f"{path} is not a generated service: it has no {ANSWERS_FILE} "
            "(run newservice update inside a folder made by newservice create)"
        )
    data = yaml.safe_load(answers_path.read_text()) or {}
    if not isinstance(data, dict) or not data.get("_src_path") or not data.get("_commit"):
        raise NotAServiceError(
            f"{answers_path} records no _src_path and _commit, so copier cannot tell which "
            "template version to update from"
        )
    return data


def _refuse_type_change(path: Path, recorded: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """service_type may not change: not through --data, nor by editing the answers file."""
    import yaml

    current = recorded.get("service_type")
    wanted = data.get("service_type", current)
    first_commit = git(
        "log", "--diff-filter=A", "--format=%H", "--", ANSWERS_FILE, cwd=path, check=False
    ).split()
    original = current
    if first_commit:
        first = git("show", f"{first_commit[-1]}:{ANSWERS_FILE}", cwd=path, check=False)
        original = (yaml.safe_load(first) or {}).get("service_type", current)
    if wanted != original or current != original:
        raise ServiceTypeChangeError(
            f"service_type cannot change from '{original}' to "
            f"'{wanted if wanted != original else current}' in an update (copier would delete "
            "the service's files); create a new service with newservice create instead"
        )
