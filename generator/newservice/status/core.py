"""`fleet_status`: the state of every generated repo under some folders, computed in parallel.

Steps: find the repos and read their answers (cheap, in this process); list each template
source's releases once (`releases.release_tags`); check out each (source, tag) an update needs
once (`predict.build_checkouts`); then trial-update every repo that is behind in a pool of
processes bounded by the machine's cores (copier renders in Python and changes the working
folder, so processes, not threads), each process rendering from the shared checkouts.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fleet import RepoFacts, read_facts
from .predict import Checkouts, Prediction, build_checkouts, predict
from .releases import ReleaseLookupError, effective_source, release_tags, releases_after
from .renderer import rendering_from

ReleaseLister = Callable[[str], list[str]]


@dataclass
class RepoStatus:
    """One row of the report."""

    path: Path
    service_type: str | None
    answers: dict[str, str]
    source: str | None
    version: str | None
    newest: str | None = None
    behind: int | None = None
    dirty: bool = False
    conflicts: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def state(self) -> str:
        """current | behind | conflict | unknown."""
        if self.error is not None:
            return "unknown"
        if self.conflicts:
            return "conflict"
        return "behind" if self.behind else "current"

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "service_type": self.service_type,
            "answers": self.answers,
            "source": self.source,
            "version": self.version,
            "newest": self.newest,
            "behind": self.behind,
            "dirty": self.dirty,
            "state": self.state,
            "would_conflict": bool(self.conflicts) if self.error is None else None,
            "conflicts": self.conflicts,
            "error": self.error,
        }


def default_jobs() -> int:
    """Worker processes: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def fleet_status(
    repos: Sequence[Path],
    *,
    jobs: int | None = None,
    releases: ReleaseLister = release_tags,
    advance: Callable[[], None] = lambda: None,
) -> list[RepoStatus]:
    """The status of each repo in `repos`; `advance()` is called once per repo finished."""
    facts = [read_facts(path) for path in repos]
    rows = [_row(fact) for fact in facts]
    tags_by_source = _releases({f.source for f in facts if f.error is None and f.source}, releases)
    todo: list[tuple[RepoStatus, RepoFacts, str]] = []
    for row, fact in zip(rows, facts, strict=True):
        if row.error is None and fact.source is not None:
            tags = tags_by_source[fact.source]
            if isinstance(tags, str):
                row.error = tags
            elif not tags:
                row.error = f"the template source {fact.source} has no release tag"
            else:
                row.newest, row.behind = tags[-1], len(releases_after(fact.commit, tags))
                if row.behind:
                    todo.append((row, fact, tags[-1]))
                    continue
        advance()
    if todo:
        _predict_all(todo, jobs or default_jobs(), advance)
    return rows


def _row(fact: RepoFacts) -> RepoStatus:
    return RepoStatus(
        path=fact.path,
        service_type=fact.service_type,
        answers=fact.key_answers(),
        source=fact.source,
        version=fact.commit,
        dirty=fact.dirty,
        error=fact.error,
    )


def _releases(sources: set[str], releases: ReleaseLister) -> dict[str, list[str] | str]:
    found: dict[str, list[str] | str] = {}
    for source in sorted(sources):
        try:
            found[source] = releases(source)
        except ReleaseLookupError as error:
            found[source] = f"the template source cannot be read: {error}"
    return found


def _predict_all(
    todo: list[tuple[RepoStatus, RepoFacts, str]], jobs: int, advance: Callable[[], None]
) -> None:
    # Each repo needs its recorded version (the merge base) and the target.
    # Keyed by where each source is read on this machine: a repo made on another machine names
    # its creator's template cache, which is this install's cache here.
    readable = {id(row): effective_source(str(fact.source)) for row, fact, _ in todo}
    needs = {
        id(row): [(readable[id(row)], str(fact.commit)), (readable[id(row)], target)]
        for row, fact, target in todo
    }
    pairs = {pair for pair_list in needs.values() for pair in pair_list}
    with tempfile.TemporaryDirectory(prefix="newservice-status-checkouts-") as folder:
        checkouts, errors = build_checkouts(pairs, Path(folder))
        runnable = []
        for row, _, target in todo:
            missing = [errors[pair] for pair in needs[id(row)] if pair in errors]
            if missing:
                row.error = missing[0]
                advance()
            else:
                runnable.append((row, target, readable[id(row)]))
        if jobs <= 1 or len(runnable) <= 1:
            with rendering_from(checkouts):
                for row, target, source in runnable:
                    _apply(row, _quiet_predict(row.path, target, source))
                    advance()
            return
        workers = min(jobs, len(runnable))
        # fork: the workers inherit the imports and the checkouts map (no re-import per worker,
        # and `python -m newservice` is not re-run as a spawned worker's main module). The
        # parent runs no thread at this point (the progress bar refreshes without one).
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(checkouts,)
        ) as pool:
            futures = {
                pool.submit(_quiet_predict, row.path, target, source): row
                for row, target, source in runnable
            }
            for future in as_completed(futures):
                _apply(futures[future], future.result())
                advance()


def _apply(row: RepoStatus, prediction: Prediction) -> None:
    row.conflicts = prediction.conflicts
    row.error = prediction.error


_WORKER_HOOKS: list[AbstractContextManager[None]] = []


def _start_worker(checkouts: Checkouts) -> None:
    """Pool initializer: render from the shared checkouts for the life of the process.

    The context manager is kept referenced: a generator-based one that is garbage collected
    runs its cleanup, which would put copier's cloning back at once.
    """
    hooks = rendering_from(checkouts)
    hooks.__enter__()
    _WORKER_HOOKS.append(hooks)


def _quiet_predict(path: Path, target: str, source: str | None = None) -> Prediction:
    """predict() with copier's warnings silenced; a failure is this repo's row, not the run's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return predict(path, target, source)
        except Exception as error:  # one repo's surprise must not hide the rest of the fleet
            return Prediction([], f"the trial update failed: {type(error).__name__}: {error}")
