"""Where `newservice update` takes the old and the new template version from.

A service records `_src_path` (where its template lives) and `_commit` (the tag it was made
from). Three cases, decided before anything is touched:

- `--template SRC` given: the template moved (a fork's new URL, a renamed path); SRC must hold the
  service's `_commit` tag. The update records SRC from then on.
- The recorded source is newservice's own template cache (`~/.cache/newservice/template`, or a
  cache path of another user or machine): this install's cache is used instead, after importing
  every released version into it (cache.py), and the service moves to this install's version by
  default. The update records this machine's cache, portably (`~/...`).
- Anything else (a fork's URL or path) is used as recorded, as plain `copier update` would.

A source that cannot be read, or that lacks the recorded version, is one sentence saying what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import TemplateSourceError
from .git import git
from .releases import own_releases
from .source import check_ref, check_template_source, git_url, is_own_source, read_refs

ANSWERS_FILE = ".copier-answers.yml"


@dataclass(frozen=True)
class UpdateSource:
    """`url`: what copier clones both versions from and records; `target`: the tag to update to
    (None: the source's latest); `moved`: `url` is not the recorded `_src_path`."""

    url: str
    target: str | None
    moved: bool


def resolve_update_source(
    recorded: str, old_commit: str, template: str | None, vcs_ref: str | None
) -> UpdateSource:
    """The source of an update; raise TemplateSourceError (exit 2) with what to do."""
    if template:
        source = check_template_source(template, vcs_ref)
        tags = {name for kind, name in read_refs(git_url(source.url, template), template)}
        if old_commit not in tags:
            raise TemplateSourceError(
                f"--template {template} has no tag {old_commit}, the version recorded in "
                f"{ANSWERS_FILE}; give the source this service was made from (or a copy of it "
                "with its tags)"
            )
        return UpdateSource(source.url, vcs_ref, source.url != recorded)
    if is_own_source(recorded):
        return _own_source(recorded, old_commit, vcs_ref)
    described = f"the template source {recorded} recorded in {ANSWERS_FILE}"
    try:
        read_refs(git_url(recorded, described), described)
    except TemplateSourceError as error:
        raise TemplateSourceError(
            f"{error.message.rstrip('.')}; if the template has moved, run newservice update "
            "--template <its new URL or path>"
        ) from None
    check_ref(recorded, vcs_ref, described)
    return UpdateSource(recorded, vcs_ref, False)


def _own_source(recorded: str, old_commit: str, vcs_ref: str | None) -> UpdateSource:
    from .source import resolve_source

    own = resolve_source()  # imports every release into this machine's cache repo
    repo = Path(own.url).expanduser()
    if not _has_tag(repo, old_commit):
        tags = [r.tag for r in own_releases()]
        tags += [own.ref] if own.ref and own.ref not in tags else []
        raise TemplateSourceError(
            f"the template version {old_commit} recorded in {ANSWERS_FILE} is not one this "
            f"newservice carries ({', '.join(tags) or 'none'}); "
            "install a newservice release that has it (pip install -U newservice), or give a "
            "source holding that tag with --template"
        )
    if vcs_ref:
        check_ref(own.url, vcs_ref, "newservice's templates")
    return UpdateSource(own.url, vcs_ref or own.ref, own.url != recorded)


def _has_tag(repo: Path, tag: str) -> bool:
    out = git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}", cwd=repo, check=False)
    return bool(out.strip())
