"""After copier's update: never lose a file the team changed that the template removed or renamed.

copier deletes every file the new template version no longer has, even one the team edited, and
a renamed template file arrives under its new name with the template's content only: the team's
edits of the old name are silently gone (checked on copier 9.19). So after copier has run, for
each file the update deleted:

- the team never changed it (it equals the old version's render): the removal stands;
- it looks renamed (a file the update added is similar to the old version's render of it): the
  team's edits are merged into the new name with `git merge-file` (base: the old render; ours:
  the team's file; theirs: the new name as the template writes it); overlapping edits leave
  conflict markers there and the file is reported;
- otherwise the team's file is restored and reported as kept: the team decides.

The old version is rendered (one more copier render) only when the update deleted a file.
"""

from __future__ import annotations

import difflib
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .git import git

_SIMILAR = 0.6  # git's own rename detection default is 50% similar; be a little stricter


@dataclass
class Guarded:
    """`carried`: (old name, new name) whose edits were merged; `conflicts`: new names holding
    conflict markers; `kept`: files the template removed that the team changed, restored."""

    carried: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def deleted_and_added(repo: Path) -> tuple[list[str], list[str]]:
    """Paths the update deleted (tracked at HEAD, now gone) and added (untracked, new)."""
    out = git("status", "--porcelain", "-z", "--untracked-files=all", cwd=repo)
    deleted, added = [], []
    for entry in out.split("\0"):
        status, name = entry[:2], entry[3:]
        if "D" in status and status not in {"DD", "UD", "DU"}:
            deleted.append(name)
        elif status == "??" and not name.endswith((".rej", ".orig")):
            added.append(name)  # a new file of the template (not copier's conflict leftovers)
    return deleted, added


def guard_removed(repo: Path, render_old: Callable[[Path], None]) -> Guarded:
    """Carry over or restore team-changed files the update deleted; `render_old(folder)`
    renders the old template version with the service's answers into `folder`."""
    result = Guarded()
    deleted, added = deleted_and_added(repo)
    if not deleted:
        return result
    with tempfile.TemporaryDirectory(prefix="newservice-old-") as tmp:
        old = Path(tmp) / "old"
        render_old(old)
        for name in deleted:
            ours = _head_bytes(repo, name)
            base_path = old / name
            base = base_path.read_bytes() if base_path.is_file() else None
            if ours is None or ours == base:
                continue  # the team never changed it: the template's removal stands
            target = _renamed_to(base, added, repo) if base is not None else None
            if target is None:
                git("checkout", "HEAD", "--", name, cwd=repo)
                result.kept.append(name)
                continue
            if _merge_into(repo / target, ours, base or b""):
                result.conflicts.append(target)
            result.carried.append((name, target))
    return result


def _head_bytes(repo: Path, name: str) -> bytes | None:
    proc = subprocess.run(
        ["git", "show", f"HEAD:{name}"], cwd=repo, capture_output=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else None


def _renamed_to(base: bytes, added: list[str], repo: Path) -> str | None:
    """The added file most similar to the old render of the removed one, if similar enough."""
    try:
        old_lines = base.decode().splitlines()
    except UnicodeDecodeError:
        return None
    best, best_ratio = None, _SIMILAR
    for name in added:
        try:
            new_lines = (repo / name).read_text().splitlines()
        except (UnicodeDecodeError, OSError):
            continue
        ratio = difflib.SequenceMatcher(None, old_lines, new_lines).ratio()
        if ratio >= best_ratio:
            best, best_ratio = name, ratio
    return best


def _merge_into(target: Path, ours: bytes, base: bytes) -> bool:
    """Three-way merge of the team's file into the template's renamed file; True on conflict."""
    with tempfile.TemporaryDirectory(prefix="newservice-merge-") as tmp:
        ours_path, base_path = Path(tmp, "ours"), Path(tmp, "base")
        ours_path.write_bytes(ours)
        base_path.write_bytes(base)
        proc = subprocess.run(
            [
                "git",
                "merge-file",
                "-p",
                "-L",
                "before updating",
                "-L",
                "old template",
                "-L",
                "after updating",
                str(ours_path),
                str(base_path),
                str(target),
            ],
            capture_output=True,
            check=False,
        )
    if proc.returncode > 127:  # git merge-file: negative (255) on error, else the conflict count
        raise RuntimeError(f"git merge-file failed: {proc.stderr.decode(errors='replace')}")
    target.write_bytes(proc.stdout)
    return proc.returncode > 0
