"""A ready checkout of each tag of the cache repo, so that a create does not clone the templates.

For every render copier clones its git source into a new temporary folder (git version, clone,
cat-file, checkout, submodule update: five git processes) and deletes it afterwards; on a loaded
machine that is 0.3-0.5 s of a create. The cache repo (cache.py) is newservice's own and its tags
never move, so the checkout of a tag, made ONCE with copier's own `clone` function (the same files,
modes and .git that copier would have made, so `git describe` still gives `_commit`), serves every
later create of that release.

A checkout is keyed by tag and commit, built in a temporary folder and renamed into place (never
half-made), and checked with one `git status` before each use: a checkout that someone edited or
that a cache cleaner pruned is rebuilt. Other sources (--template forks, a tagged checkout of this
repo) are cloned by copier as usual.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from .cache import cache_root, lock
from .git import GitError, git

_SAFE_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def cached_checkout(url: str, ref: str | None) -> Path | None:
    """The pristine checkout of tag `ref` of the cache repo at `url`; None for other sources."""
    repo = cache_root() / "template"
    if ref is None or Path(url).expanduser() != repo or not _SAFE_TAG.match(ref):
        return None
    commit = _tag_commit(repo, ref)
    if commit is None:
        return None  # a branch or commit given with --vcs-ref: copier clones it
    folder = repo.parent / "checkouts" / f"{ref}-{commit[:12]}"
    if _is_pristine(folder):
        return folder
    with lock():  # the clone must not overlap a `git repack -d` of the cache repo
        if _is_pristine(folder):
            return folder
        if folder.exists():
            shutil.rmtree(folder)
        _build(repo, ref, folder)
    return folder


def use_checkout(template: Any, checkout: Path) -> None:
    """Make copier's Template render from `checkout` instead of cloning its url.

    `Template.local_abspath` is the cached_property that clones (copier 9.x); seeding its value
    before first use skips the clone. The Template never learns of a temporary folder, so its
    cleanup leaves the shared checkout alone. `url` and `ref` are untouched: `_src_path` and
    `_commit` are recorded exactly as before.
    """
    if "local_abspath" in vars(template):
        raise RuntimeError("copier cloned the template before the checkout could be used")
    vars(template)["local_abspath"] = checkout.resolve()


def _build(repo: Path, tag: str, folder: Path) -> None:
    from copier._vcs import clone

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        clone(str(repo), tag, location=str(staging))
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _tag_commit(repo: Path, tag: str) -> str | None:
    """The commit of a lightweight tag written by cache.py (a loose ref file), else None."""
    try:
        commit = (repo / ".git" / "refs" / "tags" / tag).read_text().strip()
    except OSError:
        return None
    return commit if re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def _is_pristine(folder: Path) -> bool:
    """True when `folder` is a checkout with no modified, missing or extra file."""
    if not (folder / ".git").is_dir():
        return False
    try:
        status = git("status", "--porcelain", "--untracked-files=all", "--ignored", cwd=folder)
    except GitError:
        return False
    head = (folder / ".git" / "HEAD").read_text().strip()
    return status == "" and not head.startswith("ref:") and folder.name.endswith(head[:12])
