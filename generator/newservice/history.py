"""The released template versions as a git bundle that every install carries.

copier updates a service by rendering the template at the version the service was made from and
at the new one, so an install must provide EVERY released version, not only its own. The releases
record (releases.toml, see releases.py) maps each version to a commit of this repository; from it
this module builds one small, template-only history:

- one commit per release, in version order, each holding only that commit's template files
  (copier.yml, questions/, templates/, CHANGELOG.md) and the previous release as its parent;
- author, committer, dates and message fixed by the record alone, so the SHAs are the same on
  every machine, in every build: caches on different machines agree on what `v0.1.0` is;
- a lightweight tag `v<version>` on each, written to a git bundle (one file).

The build needs the repository's git objects (a full clone; CI's fresh clone has them) and never
writes into that repository: the commits are made in a throwaway repo that borrows its objects
through git's alternates. The wheel's build hook (hatch_build.py) ships the bundle; a checkout
builds it on first use (cache.py). Only the standard library and git are used here, so the build
hook can import this module without newservice's dependencies.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .git import GitError, git

# The files of a release: what copier reads, plus the notes `newservice update` prints.
RELEASE_ENTRIES = ("copier.yml", "questions", "templates", "CHANGELOG.md")
_IDENTITY = ("newservice", "newservice@localhost")


class HistoryError(Exception):
    """The record names a commit this repository does not have (a shallow clone, a typo)."""


def tag_name(version: str) -> str:
    """The git tag of a release: `v` + its version, as copier and `newservice create` record it."""
    return f"v{version}"


def build_bundle(repo: Path, releases: Sequence[tuple[str, str]], out: Path) -> dict[str, str]:
    """Write the bundle of `releases` ((version, commit) in version order) of `repo` to `out`.

    Returns {tag: commit of the bundle}. Raises HistoryError when a commit is missing.
    """
    objects = (
        Path(git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo).strip())
        / "objects"
    )
    work = Path(tempfile.mkdtemp(prefix="newservice-history-"))
    try:
        git("init", "--quiet", "--bare", "--template=", str(work))
        (work / "objects" / "info").mkdir(parents=True, exist_ok=True)
        (work / "objects" / "info" / "alternates").write_text(f"{objects}\n")
        tags: dict[str, str] = {}
        parent: str | None = None
        for version, commit in releases:
            parent = _release_commit(work, version, commit, parent)
            tags[tag_name(version)] = parent
            git("update-ref", f"refs/tags/{tag_name(version)}", parent, cwd=work)
        if not tags:
            raise HistoryError("the releases record lists no release")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        # `bundle create` packs every object the tags reach, reading them through the alternates.
        refs = [f"refs/tags/{tag}" for tag in tags]
        git("bundle", "create", "--quiet", str(partial), *refs, cwd=work)
        partial.replace(out)
        return tags
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _release_commit(work: Path, version: str, commit: str, parent: str | None) -> str:
    """The template-only commit of one release, made deterministic by the record alone."""
    try:
        date = git("show", "-s", "--format=%ct", f"{commit}^{{commit}}", cwd=work).strip()
    except GitError:
        raise HistoryError(
            f"release {version} names commit {commit}, which this clone does not have "
            "(fetch the full history: git fetch --unshallow)"
        ) from None
    index = work / "release-index"
    env = {"GIT_INDEX_FILE": str(index)}
    git("read-tree", "--empty", cwd=work, env=env)
    listing = git("ls-tree", "-r", "-z", "--full-tree", commit, "--", *RELEASE_ENTRIES, cwd=work)
    git("update-index", "-z", "--index-info", cwd=work, env=env, input=listing)
    tree = git("write-tree", cwd=work, env=env).strip()
    index.unlink(missing_ok=True)
    stamp = f"{date} +0000"
    identity = {
        "GIT_AUTHOR_NAME": _IDENTITY[0],
        "GIT_AUTHOR_EMAIL": _IDENTITY[1],
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": _IDENTITY[0],
        "GIT_COMMITTER_EMAIL": _IDENTITY[1],
        "GIT_COMMITTER_DATE": stamp,
    }
    message = f"newservice templates {tag_name(version)}\n\nReleased from commit {commit}.\n"
    args = ["commit-tree", tree, *(["-p", parent] if parent else []), "-m", message]
    return git(*args, cwd=work, env=identity).strip()


def bundle_tags(bundle: Path) -> dict[str, str]:
    """{tag: commit} of the release tags a bundle holds."""
    out = git("bundle", "list-heads", str(bundle))
    tags = {}
    for line in out.splitlines():
        commit, _, ref = line.partition(" ")
        if ref.startswith("refs/tags/"):
            tags[ref.removeprefix("refs/tags/")] = commit
    return tags


def import_bundle(bundle: Path, repo: Path) -> None:
    """Make `repo`'s release tags those of `bundle` (the record is authoritative: a tag that an
    older newservice made locally under a released name is moved to the release)."""
    wanted = bundle_tags(bundle)
    have = dict(
        line.split(" ", 1)
        for line in git(
            "for-each-ref", "refs/tags", "--format=%(refname:strip=2) %(objectname)", cwd=repo
        ).splitlines()
        if " " in line
    )
    stale = [tag for tag, commit in wanted.items() if have.get(tag) != commit]
    if stale:
        refspecs = [f"+refs/tags/{tag}:refs/tags/{tag}" for tag in stale]
        git("fetch", "--quiet", "--no-write-fetch-head", str(bundle), *refspecs, cwd=repo)
