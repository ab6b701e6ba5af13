"""Which template source a command renders from, checked before anything is written.

- Default: the templates of this newservice release (or of this checkout), materialized with every
  released version into the cache repo (see cache.py) and recorded as `~/.cache/newservice/template`
  (portable across users and machines whose cache is in the default place).
- `--template SRC`: a platform team's fork of this layout, by URL or path. It must be a git repo
  with at least one PEP 440 version tag (copier versions templates by tag; without one a generated
  repo records no usable `_commit` and can never be updated).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .cache import cache_repo, materialize, portable
from .errors import TemplateSourceError
from .git import GitError, git

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE_DIR / "_template"  # package data of a built wheel (hatch force-include)
_CHECKOUT = _PACKAGE_DIR.parents[1]  # repo root when running from a checkout (editable install)
_REMOTE_PREFIXES = ("git@", "git+", "gh:", "gl:", "ssh://", "http://", "https://", "file://")


@dataclass(frozen=True)
class TemplateSource:
    """A copier source: `url` goes to `_src_path`, `ref` (a tag) to `_commit`."""

    url: str
    ref: str | None


@cache
def package_version() -> str:
    """The version of these templates: pyproject.toml's in a checkout, else the installed one
    (0.0.0 when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    if bundled_root() == _CHECKOUT:
        import tomllib

        return str(tomllib.loads((_CHECKOUT / "pyproject.toml").read_text())["project"]["version"])
    try:
        return version("newservice")
    except PackageNotFoundError:
        return "0.0.0"


def bundled_root() -> Path:
    """The folder holding this release's copier.yml and templates/."""
    if (_CHECKOUT / "copier.yml").is_file() and (_CHECKOUT / "generator" / "newservice").is_dir():
        return _CHECKOUT
    return _BUNDLED


def resolve_source(template: str | None = None, vcs_ref: str | None = None) -> TemplateSource:
    """The source to render from; raise TemplateSourceError when it cannot serve updates."""
    if template:
        return check_template_source(template, vcs_ref)
    repo, tag = materialize(bundled_root(), package_version())
    source = TemplateSource(portable(repo), tag)
    if vcs_ref:
        check_ref(source.url, vcs_ref)
        return TemplateSource(source.url, vcs_ref)
    return source


def is_own_source(recorded: str) -> bool:
    """True when a recorded `_src_path` is newservice's own template cache: this machine's (as a
    path or as `~/...`), one in the default layout (`.../newservice/template`), or another
    machine's (a local path named `template` that does not exist here). A team's fork is a URL
    or another path that exists; it is used as recorded."""
    if recorded.startswith(_REMOTE_PREFIXES):
        return False
    path = Path(recorded).expanduser()
    if path == cache_repo() or (path.name, path.parent.name) == ("template", "newservice"):
        return True
    return path.name == "template" and not path.exists()


def check_template_source(template: str, vcs_ref: str | None) -> TemplateSource:
    """Validate --template (and --vcs-ref); local paths are made absolute for `_src_path`."""
    url = template
    if not template.startswith(_REMOTE_PREFIXES):
        path = Path(template).expanduser().resolve()
        if not path.is_dir():
            raise TemplateSourceError(
                f"--template {template} does not exist; give the path or URL of a git repository "
                "of this layout (copier.yml and templates/) with a version tag such as v1.0.0"
            )
        top = git("rev-parse", "--show-toplevel", cwd=path, check=False).strip()
        if not top or Path(top).resolve() != path:
            raise TemplateSourceError(
                f"--template {template} is not a git repository (the root of one); copier needs "
                "a git repo with a version tag such as v1.0.0 so that services can update from it"
            )
        if not (path / "copier.yml").is_file():
            raise TemplateSourceError(
                f"--template {template} has no copier.yml at its root; it must have the layout "
                "of newservice's template repo (copier.yml and templates/)"
            )
        url = str(path)
    refs = read_refs(git_url(url, f"--template {template}"), f"--template {template}")
    tags = [name for kind, name in refs if kind == "tags" and _version(name)]
    if not tags:
        raise TemplateSourceError(
            f"--template {template} has no version tag; tag a release with a PEP 440 version "
            "such as v1.0.0 (copier records it as _commit and updates between tags)"
        )
    if vcs_ref:
        _check_ref_in(refs, url, vcs_ref, template)
    return TemplateSource(url, vcs_ref)


def check_ref(url: str, ref: str | None, described: str | None = None) -> None:
    """Raise TemplateSourceError unless `url` can be read and `ref` (if given) is one of its
    tags, branches or commits. `described` names the source in the message."""
    described = described or f"the template source {url}"
    refs = read_refs(git_url(url, described), described)
    if ref:
        _check_ref_in(refs, url, ref, url)


def _check_ref_in(refs: list[tuple[str, str]], url: str, ref: str, shown: str) -> None:
    names = {name for _, name in refs}
    if ref in names or ref == "HEAD":
        return
    local = Path(url).expanduser()
    if (
        local.is_dir()
        and git(
            "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=local, check=False
        ).strip()
    ):
        return
    tags = sorted(
        (n for k, n in refs if k == "tags" and _version(n)),
        key=lambda t: _version(t) or Version("0"),
    )
    raise TemplateSourceError(
        f"--vcs-ref {ref} is not a tag, branch or commit of {shown}; "
        f"its version tags are: {', '.join(tags) or 'none'}"
    )


def git_url(source: str, described: str) -> str:
    """What git itself is given for a copier source (copier expands gh:, gl:, git+...);
    raise TemplateSourceError when copier would not treat `source` as a git repository."""
    if not source.startswith(_REMOTE_PREFIXES):
        return str(Path(source).expanduser())
    from copier._vcs import get_repo

    expanded = get_repo(source)
    if expanded is None:
        raise TemplateSourceError(
            f"{described} is not a git URL that copier clones; write it as "
            f"https://host/org/repo.git, git@host:org/repo.git, git+{source} or a local path"
        )
    return str(expanded)


def read_refs(url: str, described: str) -> list[tuple[str, str]]:
    """(kind, name) of the heads and tags of a git source, read with `git ls-remote`."""
    try:
        out = git("ls-remote", "--refs", "--", url, timeout=60)
    except GitError as error:
        reason = error.stderr.strip().splitlines()[-1] if error.stderr.strip() else "unknown error"
        raise TemplateSourceError(
            f"{described} could not be read as a git repository ({reason})"
        ) from None
    refs = []
    for line in out.splitlines():
        _, _, ref = line.partition("\t")
        parts = ref.split("/", 2)
        if len(parts) == 3 and parts[0] == "refs" and parts[1] in {"heads", "tags"}:
            refs.append((parts[1], parts[2]))
    return refs


def _version(tag: str) -> Version | None:
    try:
        return Version(tag)
    except InvalidVersion:
        return None
