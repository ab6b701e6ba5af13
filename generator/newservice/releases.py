"""Released template versions and their upgrade notes.

- `releases.toml` (repo root; shipped in the wheel) is the record of releases: version -> the
  commit of this repository that holds it. Tags may be lost (a fresh clone, a fork that did not
  push them); commits on main are not, so the record is what every build derives its tags from
  (history.py).
- `CHANGELOG.md` has one `## <version>` section per release; its `### Upgrade notes` subsection
  says what a team must do. `newservice update` prints the notes between two versions, read from
  the CHANGELOG.md of the NEW template version (a fork's own changelog, for a fork).

Public for other commands (`newservice status`): `available_versions(source)`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

RECORD = "releases.toml"
BUNDLE = "releases.bundle"
CHANGELOG = "CHANGELOG.md"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_SECTION = re.compile(r"^## \[?v?([0-9][^\s\]]*)\]?.*$", re.M)
_NOTES = re.compile(r"^### Upgrade notes[^\n]*\n(.*?)(?=^### |\Z)", re.M | re.S)


@dataclass(frozen=True)
class Release:
    """One released template version and the commit of this repository that holds it."""

    version: Version
    commit: str

    @property
    def tag(self) -> str:
        return f"v{self.version}"


def read_record(path: Path) -> list[Release]:
    """The releases of a record file, oldest first; [] when there is no record.

    Raises ValueError naming the entry when the record is malformed.
    """
    if not path.is_file():
        return []
    data = tomllib.loads(path.read_text())
    entries = data.get("releases", {})
    if not isinstance(entries, dict):
        raise ValueError(f'{path}: [releases] must be a table of "version" = "commit"')
    found = []
    for name, commit in entries.items():
        try:
            version = Version(name)
        except InvalidVersion:
            raise ValueError(f"{path}: '{name}' is not a PEP 440 version") from None
        if not isinstance(commit, str) or not _SHA.match(commit):
            raise ValueError(f"{path}: release {name} needs a full 40-character commit SHA")
        found.append(Release(version, commit))
    return sorted(found, key=lambda release: release.version)


def own_releases() -> list[Release]:
    """The releases of newservice's own templates that this install provides."""
    from .source import bundled_root

    return read_record(bundled_root() / RECORD)


def available_versions(source: str | None = None) -> list[Version]:
    """The released template versions available to update to, oldest first.

    `source` is a `_src_path` as recorded in a service's .copier-answers.yml. None, or a source
    that is newservice's own template cache (on this machine or, as recorded, on another), gives
    the releases this install carries (no git process). Any other source (a team's fork, by URL
    or path) gives its PEP 440 version tags, read with `git ls-remote`; a source that cannot be
    read raises TemplateSourceError (exit 2 in the CLI) with what to do.
    """
    from .source import git_url, is_own_source, read_refs

    if source is None or is_own_source(source):
        return [release.version for release in own_releases()]
    described = f"the template source {source}"
    refs = read_refs(git_url(source, described), described)
    versions = {v for kind, name in refs if kind == "tags" and (v := parse_tag(name)) is not None}
    return sorted(v for v in versions if not v.is_prerelease)


def parse_tag(tag: str) -> Version | None:
    """The PEP 440 version of a tag such as `v1.2.0`, else None."""
    try:
        return Version(tag)
    except InvalidVersion:
        return None


def upgrade_notes(changelog: str, old: Version, new: Version) -> list[tuple[Version, str]]:
    """(version, notes) of each release in (old, new], oldest first, that has upgrade notes."""
    sections = list(_SECTION.finditer(changelog))
    found = []
    for index, heading in enumerate(sections):
        version = parse_tag(heading.group(1))
        if version is None or not old < version <= new:
            continue
        end = sections[index + 1].start() if index + 1 < len(sections) else len(changelog)
        body = changelog[heading.end() : end]
        match = _NOTES.search(body)
        if match and match.group(1).strip():
            found.append((version, match.group(1).strip()))
    return sorted(found, key=lambda item: item[0])
