"""Which template versions a source offers: copier's own notion of a release.

copier versions a template by the PEP 440 git tags of its source (`vX.Y.Z`): `copier update`
and `copier check-update` list them with `git ls-remote --tags`, keep the valid versions, drop
pre-releases and take the highest. `release_tags` does exactly that, through copier's own vcs
helpers, and is the ONE place `newservice status` learns what "newest" and "behind" mean: point
it at another list of releases (a changelog, a bundled history) and the rest follows.
"""

from __future__ import annotations

import functools

from packaging.version import InvalidVersion, Version


class ReleaseLookupError(Exception):
    """The template source could not be read (moved, unreachable, not a git repository)."""


@functools.cache
def effective_source(src_path: str) -> str:
    """Where a recorded source is read on this machine: newservice's own template cache (this
    user's, another user's or another machine's path, as recorded) is this install's cache, with
    every release imported (as `newservice update` does); anything else is used as recorded."""
    from ..source import is_own_source, resolve_source

    return resolve_source().url if is_own_source(src_path) else src_path


def release_tags(src_path: str) -> list[str]:
    """The release tags of the template source `src_path`, oldest first (PEP 440 order).

    For newservice's own cache: the releases this install carries and its own version (what
    `newservice update` moves to), not whatever tags other installs left in the cache."""
    from copier._vcs import get_git, get_repo, valid_version
    from plumbum import ProcessExecutionError

    from ..errors import TemplateSourceError
    from ..releases import own_releases
    from ..source import is_own_source, resolve_source

    if is_own_source(src_path):
        try:
            installed = resolve_source().ref
        except TemplateSourceError as error:
            raise ReleaseLookupError(error.message) from None
        own = {release.tag for release in own_releases()} | ({installed} if installed else set())
        return sorted(own, key=Version)
    url = get_repo(src_path)
    if url is None:
        raise ReleaseLookupError(f"{src_path} is not a git repository copier can read")
    try:
        out = get_git()("ls-remote", "--tags", "--refs", "--", str(url))
    except ProcessExecutionError as error:
        reason = (error.stderr or "").strip().splitlines()
        raise ReleaseLookupError(
            f"git ls-remote {src_path} failed: {reason[-1] if reason else error.retcode}"
        ) from None
    tags = [line.split("\t", 1)[1].removeprefix("refs/tags/") for line in out.splitlines()]
    tags = [tag for tag in tags if valid_version(tag) and not Version(tag).is_prerelease]
    return sorted(tags, key=Version)


def parse_version(ref: str | None) -> Version | None:
    """A recorded `_commit` as a version: a tag (`v1.2.0`) or git describe (`v1.2.0-3-gabc`)."""
    if not ref:
        return None
    try:
        return Version(ref)
    except InvalidVersion:
        pass
    base, _, rest = ref.partition("-")
    count = rest.split("-", 1)[0]
    try:
        return Version(f"{base}.post{count}") if count.isdigit() else None
    except InvalidVersion:
        return None


def releases_after(current: str | None, tags: list[str]) -> list[str]:
    """The tags newer than the recorded `_commit` (all of them when it is not a version)."""
    version = parse_version(current)
    if version is None:
        return list(tags)
    return [tag for tag in tags if Version(tag) > version]
