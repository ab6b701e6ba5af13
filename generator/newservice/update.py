"""`update_service`: pull a newer template version into a generated service with copier update.

Refused up front, with one sentence: a folder that is not a generated git repo, uncommitted
changes (copier needs a clean tree to compute its three-way merge), a change of service_type
(copier would delete the old type's files), and a template source that cannot serve the update
(update_source.py: a foreign cache path is re-resolved to this machine's cache first). Conflicts
do not change copier's exit status, so they are found here afterwards: unmerged paths in the
index and leftover *.rej files. The upgrade notes between the two versions come from the new
version's CHANGELOG.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
from .releases import CHANGELOG, parse_tag, upgrade_notes
from .update_guard import Guarded, guard_removed
from .update_source import ANSWERS_FILE, UpdateSource, resolve_update_source

Notes = list[tuple[Any, str]]  # (packaging Version, the notes' markdown), oldest first
_UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


@dataclass(frozen=True)
class UpdateResult:
    """The template versions before and after, and what changed in the work tree."""

    path: Path
    old_commit: str | None
    new_commit: str | None
    changed: list[str]
    source: str = ""
    notes: Notes = field(default_factory=list)
    carried: list[tuple[str, str]] = field(default_factory=list)  # renamed: (old, new) name


def update_service(
    path: Path = Path("."),
    *,
    vcs_ref: str | None = None,
    data: Mapping[str, Any] | None = None,
    ask: bool = False,
    conflict: Literal["inline", "rej"] = "inline",
    template: str | None = None,
) -> UpdateResult:
    """Update the service at `path`; raise UpdateConflictError (exit 1) when files conflict.

    `conflict`: "inline" writes conflict markers into the file (and marks it unmerged); "rej"
    writes the template's version and leaves your rejected change in FILE.rej. `template`: the
    template's new location when it moved (must hold the recorded version's tag). The
    UpdateConflictError carries the upgrade notes as `notes`.
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
    old_commit = str(recorded["_commit"])
    plan = resolve_update_source(str(recorded["_src_path"]), old_commit, template, vcs_ref)
    old_answers = {k: v for k, v in recorded.items() if not str(k).startswith("_")}
    notes, guarded = _run_copier_update(
        path, plan, old_commit, old_answers, dict(data or {}), ask, conflict
    )
    conflicts = sorted({*find_conflicts(path), *guarded.conflicts})
    if conflicts or guarded.kept:
        error = UpdateConflictError(conflicts, guarded.kept)
        error.notes = notes
        raise error
    changed = [line[3:] for line in git("status", "--porcelain", cwd=path).splitlines()]
    new = _read_answers(path)
    return UpdateResult(
        path, old_commit, new.get("_commit"), changed, plan.url, notes, guarded.carried
    )


def _run_copier_update(
    path: Path,
    plan: UpdateSource,
    old_commit: str,
    old_answers: dict[str, Any],
    data: dict[str, Any],
    ask: bool,
    conflict: Literal["inline", "rej"],
) -> tuple[Notes, Guarded]:
    """copier's update from `plan`, then the guard of removed files (update_guard.py); return
    the upgrade notes between the two versions and what the guard did."""
    from copier._main import Worker
    from copier._template import Template
    from copier.errors import UserMessageError

    try:
        with Worker(
            dst_path=path,
            src_path=plan.url,
            data=data,
            vcs_ref=plan.target,
            defaults=not ask,
            skip_answered=not ask,
            overwrite=True,
            quiet=True,
            conflict=conflict,
            unsafe=False,
        ) as worker:
            if plan.moved:
                # copier renders the OLD version from the answers' `_src_path`; a moved source
                # (a foreign cache path, --template) serves it instead.
                old = Template(url=plan.url, ref=old_commit)
                worker.subproject._cleanup_hooks.append(old._cleanup)
                vars(worker.subproject)["template"] = old

            def render_old(folder: Path) -> None:
                with Worker(
                    src_path=plan.url,
                    vcs_ref=old_commit,
                    dst_path=folder,
                    data=old_answers,
                    defaults=True,
                    quiet=True,
                    unsafe=False,
                ) as old_worker:
                    old_worker.run_copy()

            with reading(plan.url):  # copier clones the old and the new version from it
                worker.run_update()
                guarded = guard_removed(path, render_old)
            return _notes(worker.template, old_commit), guarded
    except UserMessageError as error:
        raise UpdateFailedError(f"copier refused the update: {error}") from None


def _notes(template: Any, old_commit: str) -> Notes:
    """The upgrade notes in (old, new] from the new template version's CHANGELOG.md."""
    old, new = parse_tag(old_commit), template.version
    changelog = Path(template.local_abspath) / CHANGELOG
    if old is None or new is None or not changelog.is_file():
        return []
    return upgrade_notes(changelog.read_text(), old, new)


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
