"""The release record, the history bundle built from it, and the upgrade notes.

releases.toml names each release's commit; every build derives the tags from it (tags may not
survive a clone), so these tests check what a platform engineer's release must satisfy and that
a fresh clone builds the same history.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from newservice.git import FALLBACK_IDENTITY, git
from newservice.history import RELEASE_ENTRIES, build_bundle, bundle_tags
from newservice.releases import (
    CHANGELOG,
    RECORD,
    available_versions,
    read_record,
    upgrade_notes,
)
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[1]
RELEASES = read_record(REPO_ROOT / RECORD)


def pairs() -> list[tuple[str, str]]:
    return [(str(r.version), r.commit) for r in RELEASES]


def changelog_versions(text: str) -> list[str]:
    return re.findall(r"^## (\d\S*) \(\d{4}-\d\d-\d\d\)$", text, re.M)


class TestTheRecord:
    def test_each_release_commit_carries_its_version_and_a_changelog_section(self) -> None:
        """The commit exists here, its pyproject.toml has that version, and CHANGELOG.md (now)
        has a dated section for it, newest first."""
        assert [str(r.version) for r in RELEASES][:2] == ["0.1.0", "0.2.0"]
        for release in RELEASES:
            pyproject = git("show", f"{release.commit}:pyproject.toml", cwd=REPO_ROOT)
            assert tomllib.loads(pyproject)["project"]["version"] == str(release.version)
        sections = changelog_versions((REPO_ROOT / CHANGELOG).read_text())
        assert {str(r.version) for r in RELEASES} <= set(sections)
        assert sections == sorted(sections, key=Version, reverse=True)

    def test_the_package_version_is_the_latest_release_or_later(self) -> None:
        version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
        assert Version(version) >= RELEASES[-1].version

    def test_a_malformed_record_is_refused_with_the_entry_named(self, tmp_path: Path) -> None:
        bad = tmp_path / RECORD
        bad.write_text('[releases]\n"1.0.0" = "abc123"\n')
        with pytest.raises(ValueError, match=r"release 1\.0\.0 needs a full 40-character commit"):
            read_record(bad)
        bad.write_text('[releases]\n"one" = "' + "a" * 40 + '"\n')
        with pytest.raises(ValueError, match="'one' is not a PEP 440 version"):
            read_record(bad)


class TestTheHistoryBundle:
    def test_a_fresh_clone_builds_the_same_history(self, tmp_path: Path) -> None:
        """Two builds, here and in a fresh clone (as CI's), give the same tags and SHAs; each
        tag holds exactly its commit's template files."""
        here = build_bundle(REPO_ROOT, pairs(), tmp_path / "here.bundle")
        clone = tmp_path / "clone"
        git("clone", "-q", "--no-local", str(REPO_ROOT), str(clone))
        there = build_bundle(clone, pairs(), tmp_path / "there.bundle")
        assert here == there == bundle_tags(tmp_path / "there.bundle")
        assert list(here) == [r.tag for r in RELEASES]
        unpacked = tmp_path / "unpacked"
        git("init", "-q", "--bare", str(unpacked))
        git("fetch", "-q", str(tmp_path / "there.bundle"), "refs/tags/*:refs/tags/*", cwd=unpacked)
        for release in RELEASES:
            tagged = git("ls-tree", "-r", here[release.tag], cwd=unpacked)
            source = git("ls-tree", "-r", release.commit, "--", *RELEASE_ENTRIES, cwd=clone)
            assert tagged == source
        assert git("status", "--porcelain", cwd=clone) == ""  # the clone is left untouched

    def test_a_commit_missing_from_the_clone_is_named(self, tmp_path: Path) -> None:
        from newservice.history import HistoryError

        with pytest.raises(HistoryError, match="git fetch --unshallow"):
            build_bundle(REPO_ROOT, [("9.9.9", "f" * 40)], tmp_path / "x.bundle")

    def test_the_sdist_and_the_wheel_built_from_it_carry_the_bundle(self, tmp_path: Path) -> None:
        """`uv build` makes the sdist, then the wheel FROM the sdist (no .git there)."""
        subprocess.run(
            [sys.executable, "-m", "uv", "build", "--quiet", "-o", str(tmp_path), str(REPO_ROOT)],
            check=True,
            timeout=600,
        )
        (sdist,) = tmp_path.glob("*.tar.gz")
        (wheel,) = tmp_path.glob("*.whl")
        with tarfile.open(sdist) as archive:
            assert any(n.endswith("/releases.bundle") for n in archive.getnames())
        with zipfile.ZipFile(wheel) as archive:
            archive.extract("newservice/_template/releases.bundle", tmp_path / "w")
            names = set(archive.namelist())
        assert {"newservice/_template/releases.toml", "newservice/_template/CHANGELOG.md"} <= names
        bundled = bundle_tags(tmp_path / "w" / "newservice" / "_template" / "releases.bundle")
        assert bundled == build_bundle(REPO_ROOT, pairs(), tmp_path / "check.bundle")


class TestUpgradeNotes:
    CHANGELOG_TEXT = """# Changelog

## Unreleased

### Upgrade notes
- not released yet

## 1.2.0 (2026-03-01)

### Changed
- something

### Upgrade notes
- set FOO in your deployment

## 1.1.0 (2026-02-01)

### Added
- nothing to do

## 1.0.0 (2026-01-01)

### Upgrade notes
- the first one
"""

    def test_the_notes_between_two_versions_oldest_first(self) -> None:
        notes = upgrade_notes(self.CHANGELOG_TEXT, Version("1.0.0"), Version("1.2.0"))
        assert notes == [(Version("1.2.0"), "- set FOO in your deployment")]
        everything = upgrade_notes(self.CHANGELOG_TEXT, Version("0.9"), Version("1.2.0"))
        assert [v for v, _ in everything] == [Version("1.0.0"), Version("1.2.0")]
        assert upgrade_notes(self.CHANGELOG_TEXT, Version("1.2.0"), Version("1.2.0")) == []

    def test_this_changelog_has_notes_for_0_2_0(self) -> None:
        text = (REPO_ROOT / CHANGELOG).read_text()
        notes = upgrade_notes(text, Version("0.1.0"), Version("0.2.0"))
        assert [v for v, _ in notes] == [Version("0.2.0")]
        assert "Updating from the template" in notes[0][1]


class TestAvailableVersions:
    def test_newservice_own_source_lists_the_record(self) -> None:
        """For None, this machine's cache and another machine's cache path: the record."""
        expected = [r.version for r in RELEASES]
        assert available_versions() == expected
        assert available_versions("~/.cache/newservice/template") == expected
        assert available_versions("/home/nobody-here/.cache/newservice/template") == expected

    def test_a_fork_lists_its_release_tags(self, tmp_path: Path) -> None:
        fork = tmp_path / "fork"
        fork.mkdir()
        git("init", "-q", cwd=fork)
        (fork / "copier.yml").write_text("{}\n")
        git("add", "-A", cwd=fork)
        git("commit", "-qm", "x", "--no-gpg-sign", cwd=fork, env=FALLBACK_IDENTITY)
        for tag in ("v1.0.0", "v1.10.0", "v1.2.0", "v2.0.0rc1", "not-a-version"):
            git("tag", tag, cwd=fork)
        assert available_versions(str(fork)) == [
            Version("1.0.0"),
            Version("1.2.0"),
            Version("1.10.0"),
        ]
        assert available_versions(f"git+{fork.as_uri()}")[-1] == Version("1.10.0")
