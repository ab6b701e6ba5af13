"""Would `copier update` to a given tag conflict? Answered in a throwaway clone, never in the repo.

For each repo: `git clone --shared` of its HEAD into a temporary folder (the repo's objects are
borrowed, nothing in the repo is written), then copier's own `run_update` there with the recorded
answers, then the same conflict scan `newservice update` uses (unmerged paths, `*.rej`). The
prediction is of the committed state: uncommitted changes are reported as "dirty" separately.

An update renders the template several times (the old version twice, the new one twice), and copier
clones its source for each. Here every (source, tag) is checked out ONCE per run, with copier's
own `clone`, into a shared folder that copier renders from (renderer.py), so a fleet of 50 repos
on two releases clones the template twice, not 200 times.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# (source as recorded, tag) -> a ready checkout of that tag
Checkouts = Mapping[tuple[str, str], Path]


@dataclass(frozen=True)
class Prediction:
    """The outcome of a trial update: conflicting files, or why it could not be tried."""

    conflicts: list[str]
    error: str | None = None


def build_checkouts(
    pairs: set[tuple[str, str]], folder: Path
) -> tuple[dict[tuple[str, str], Path], dict[tuple[str, str], str]]:
    """One checkout per (source, tag) under `folder`; returns (checkouts, errors by pair)."""
    from copier._vcs import clone, get_repo
    from plumbum import ProcessExecutionError

    from ..cache import reading

    checkouts: dict[tuple[str, str], Path] = {}
    errors: dict[tuple[str, str], str] = {}
    from .releases import effective_source

    for number, (source, tag) in enumerate(sorted(pairs)):
        # `source` is where it is read on this machine (core.py keys by effective_source).
        readable = effective_source(source)
        url = get_repo(readable)
        if url is None:
            errors[(source, tag)] = f"the template source {source} is not a git repository"
            continue
        location = folder / f"checkout-{number}"
        location.mkdir(parents=True)
        try:
            with reading(readable):  # newservice's own cache repo: not while it is repacked
                checkouts[(source, tag)] = Path(clone(url, tag, location=str(location))).resolve()
        except (ProcessExecutionError, ValueError) as error:
            errors[(source, tag)] = f"cannot check out {tag} of {source}: {error}".splitlines()[0]
    return checkouts, errors


def predict(repo: Path, target: str, source: str | None = None) -> Prediction:
    """Trial-update a clone of `repo`'s HEAD to tag `target`; list the files that would conflict."""
    from copier import run_update
    from copier.errors import CopierError

    from ..git import GitError, git
    from ..update import find_conflicts

    top = Path(git("rev-parse", "--show-toplevel", cwd=repo).strip())
    with tempfile.TemporaryDirectory(prefix="newservice-status-") as scratch:
        clone = Path(scratch) / "repo"
        try:
            git("clone", "--quiet", "--shared", "--no-tags", str(top), str(clone))
        except GitError as error:
            return Prediction([], f"cannot clone the repo: {error.stderr.strip()}")
        destination = clone / repo.relative_to(top)
        if source is not None:
            _record_source(destination, source)
        try:
            run_update(
                destination,
                vcs_ref=target,
                defaults=True,
                skip_answered=True,
                overwrite=True,
                quiet=True,
                conflict="inline",
                unsafe=False,
            )
        except (CopierError, GitError, ValueError, OSError) as error:
            message = str(error).strip().splitlines()
            return Prediction([], f"copier update failed: {message[0] if message else error!r}")
        conflicts = find_conflicts(clone)
        shutil.rmtree(clone, ignore_errors=True)
        return Prediction(conflicts)


def _record_source(service: Path, source: str) -> None:
    """Point the clone's answers at `source` (where the recorded one is read on this machine:
    another user's template cache is ours here) and commit, as copier needs a clean tree."""
    import re

    from ..git import git

    answers = service / ".copier-answers.yml"
    text = answers.read_text()
    updated = re.sub(r"(?m)^_src_path: .*$", f"_src_path: {source}", text)
    if updated != text:
        answers.write_text(updated)
        git(
            "-c",
            "user.name=newservice",
            "-c",
            "user.email=status@newservice.invalid",
            "commit",
            "--quiet",
            "-am",
            "newservice status: the template source here",
            cwd=service,
        )
