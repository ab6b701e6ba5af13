"""`create_service`: answers in, a new git repository out, or nothing at all on failure.

The service is rendered into a hidden staging folder next to the destination, committed there, and
only then renamed into place, so a failure (bad answer, template error, Ctrl-C) leaves the disk as
it was.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import jinja_cache
from .answers import Asker, collect_answers
from .cache import cache_root, reading
from .checkout import cached_checkout, use_checkout
from .errors import BadAnswerError, OutputFolderError
from .git import commit_with_fallback_identity, git
from .source import TemplateSource, resolve_source

_COPIER_VALIDATION = re.compile(
    r"^(?:Validation error for question|Invalid choice for) '([^']+)': (.*)$"
)
_ALLOWED_NAME = (
    "a DNS-1123 label: at most 63 lowercase letters, digits or '-', starting with a letter"
)


@dataclass(frozen=True)
class CreateResult:
    """What `create_service` made (or, with `pretend`, would make)."""

    destination: Path
    answers: dict[str, Any]
    source: TemplateSource
    files: list[str]
    pretend: bool


def create_service(
    given: Mapping[str, Any],
    output: Path | None = None,
    *,
    template: str | None = None,
    vcs_ref: str | None = None,
    defaults: bool = False,
    pretend: bool = False,
    asker: Asker | None = None,
    announce: Callable[[dict[str, Any], dict[str, Any], Path], None] | None = None,
) -> CreateResult:
    """Render a new service from `given` answers (the rest: defaults, or `asker`) into `output`.

    `output` defaults to ./<service_name>. Raises a UserError subclass for anything the user can
    fix, before writing anything. `announce(answers, offered_defaults, destination)` is called
    once every answer is in, before anything is written.
    """
    if output is None:
        _check_name_stays_inside(given.get("service_name"))
    else:
        check_destination(output.absolute())
    source = resolve_source(template, vcs_ref)
    checkout = cached_checkout(source.url, source.ref)
    with _fresh_worker_class()(
        src_path=source.url,
        vcs_ref=source.ref,
        defaults=True,
        pretend=pretend,
        quiet=not pretend,  # with --pretend, copier's own listing is the output
        unsafe=False,
        cleanup_on_error=False,  # we own the staging folder and remove it ourselves
    ) as worker:
        from .questions import Questionnaire

        if checkout is not None:
            use_checkout(worker.template, checkout)
        code_cache = jinja_cache.attach(worker.jinja_env, cache_root() / "jinja")
        try:
            # Without a ready checkout copier clones the source here, once.
            with reading(source.url) if checkout is None else nullcontext():
                questions = Questionnaire(worker, template or source.url)
            offered: dict[str, Any] = {}
            answers = collect_answers(
                questions, given, defaults=defaults, asker=asker, offered=offered
            )
            destination = (output or Path(answers["service_name"])).absolute()
            check_destination(destination)
            if announce is not None:
                announce(answers, offered, destination)
            resolved = TemplateSource(source.url, worker.template.commit)
            worker.data = answers
            if pretend:
                worker.dst_path = destination
                _run_copy(worker)
                return CreateResult(destination, answers, resolved, [], pretend=True)
            return _render_and_move(worker, destination, answers, resolved)
        finally:
            code_cache.save()


def _fresh_worker_class() -> type:
    """copier's Worker for a render into a new, empty folder.

    After writing each file, copier runs `git config core.fileMode` (one git process per file,
    a quarter of the render time) to fix the executable bit of files the destination's git index
    already tracks. A fresh staging folder tracks nothing, so that step can never change anything
    here; skipping it is the one liberty taken with copier's renderer.
    """
    from copier._main import Worker

    class FreshWorker(Worker):
        def _sync_git_index_executable_bit(self, dst_relpath: Path, src_mode: int) -> None:
            return None

    return FreshWorker


def check_destination(destination: Path) -> None:
    """Refuse an output folder that is a file or holds anything."""
    if destination.is_symlink() or (destination.exists() and not destination.is_dir()):
        raise OutputFolderError(
            f"output folder {destination} exists and is not a folder; choose another --output"
        )
    if destination.is_dir() and any(destination.iterdir()):
        raise OutputFolderError(
            f"output folder {destination} already exists and is not empty; "
            "choose another --output or remove it first"
        )
    ancestor = destination.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputFolderError(
            f"output folder {destination} cannot be made: {ancestor} is a file, not a folder"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputFolderError(
            f"output folder {destination} cannot be made: {ancestor} is not writable"
        )


def _check_name_stays_inside(name: Any) -> None:
    if not isinstance(name, str):
        return
    if "/" in name or "\\" in name or name in {".", ".."} or "\0" in name:
        raise BadAnswerError(
            "service_name",
            f"service_name '{name}' would escape the output folder; it must be {_ALLOWED_NAME}",
        )


def _render_and_move(
    worker: Any, destination: Path, answers: dict[str, Any], source: TemplateSource
) -> CreateResult:
    created_parents = _make_parents(destination.parent)
    staging = destination.parent / f".{destination.name}.newservice-{uuid.uuid4().hex[:8]}"
    try:
        worker.dst_path = staging
        _run_copy(worker)
        _initial_commit(staging, answers, source)
        files = _walk_files(staging)
        os.rename(staging, destination)  # atomic; replaces an empty destination folder
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for parent in reversed(created_parents):
            parent.rmdir()
        raise
    return CreateResult(destination, answers, source, files, pretend=False)


def _walk_files(root: Path) -> list[str]:
    """Relative paths of the files under `root`, outside .git (what the first commit holds)."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if not (folder == str(root) and d == ".git")]
        found += [os.path.relpath(os.path.join(folder, name), root) for name in names]
    return sorted(found)


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p `folder`; return the folders created, outermost first (to undo on failure)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def _run_copy(worker: Any) -> None:
    """worker.run_copy(), with copier's validation errors turned into one-sentence BadAnswerErrors.

    Answers are validated before this point; this is the safety net for a rule only copier knows.
    """
    try:
        worker.run_copy()
    except ValueError as error:
        text = " ".join(str(error).split())
        match = _COPIER_VALIDATION.match(text)
        if not match:
            raise
        raise BadAnswerError(match[1], match[2]) from None


def _initial_commit(repo: Path, answers: dict[str, Any], source: TemplateSource) -> None:
    # No template folder: git's sample hooks are never used and cost a dozen files per repo.
    git("init", "--quiet", "--initial-branch=main", "--template=", cwd=repo)
    # Every file above core.bigFileThreshold is streamed into ONE pack instead of one loose object
    # (and fan-out folder) per file: `git add` of a new service drops from ~0.1 s to ~0.01 s. Set
    # for this command only; the blobs, the tree and the repository's config are the same.
    git("-c", "core.bigFileThreshold=1", "add", "--all", cwd=repo)
    message = (
        f"Create {answers['service_name']} ({answers['service_type']}) "
        f"from newservice templates {source.ref}"
    )
    commit_with_fallback_identity(repo, message)
