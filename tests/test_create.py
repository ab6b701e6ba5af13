"""create_service and the template source: staging, first commit, a source copier can update.

The installed package renders the templates of its own version: they are committed and tagged
v<version> in a cache repo, which later releases extend, so plain `copier update` finds old and
new tags there. Every release of the record (releases.toml) is imported into that repo first.
Every test here uses a template cache of its own (NEWSERVICE_CACHE_DIR).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from newservice import source
from newservice.cache import cache_repo, content_files, portable
from newservice.create import create_service
from newservice.git import FALLBACK_IDENTITY, git
from newservice.history import build_bundle, bundle_tags
from newservice.releases import RECORD, read_record

REPO_ROOT = Path(__file__).resolve().parents[1]
PROBE = "templates/api/RELEASE_PROBE.md"


def copy_template(dest: Path) -> Path:
    """This repo's template files (copier.yml, templates/) as plain files, like package data."""
    for name in content_files(REPO_ROOT):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target, follow_symlinks=False)
    return dest


def commit_and_tag(repo: Path, tag: str) -> None:
    git("init", "--quiet", cwd=repo)
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--no-verify", "-m", tag, cwd=repo, env=FALLBACK_IDENTITY)
    git("tag", tag, cwd=repo)


def recorded(service: Path) -> dict:
    return yaml.safe_load((service / ".copier-answers.yml").read_text())


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh template cache for this test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("NEWSERVICE_CACHE_DIR", str(path))
    return path


class TestCreateService:
    def test_records_a_portable_git_source_holding_the_commit_tag(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`_src_path` is the cache repo, as `~/...` when it lies in the home folder (copier
        expands `~`, so the answers file resolves for every user), a git repo in which `_commit`
        is a tag: updatable later."""
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.delenv("NEWSERVICE_CACHE_DIR")
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        result = create_service({"service_name": "orders"}, tmp_path / "orders", defaults=True)
        answers = recorded(result.destination)
        assert answers["_src_path"] == "~/.cache/newservice/template" == portable(cache_repo())
        src = Path(answers["_src_path"]).expanduser()
        assert src == tmp_path / "home" / ".cache" / "newservice" / "template"
        assert src.is_absolute() and (src / ".git").exists()
        assert git("rev-parse", "--verify", f"refs/tags/{answers['_commit']}", cwd=src).strip()
        assert answers["service_type"] == "api"
        assert result.files and ".copier-answers.yml" in result.files

    @pytest.mark.parametrize(
        ("given", "expected", "absent"),
        [
            (
                {"service_type": "worker"},
                {"broker": "rabbitmq", "database": "postgresql"},
                {"schedule"},
            ),
            (
                {"service_type": "cronjob"},
                {"schedule": "0 2 * * *", "timezone": "Etc/UTC"},
                {"port", "broker"},
            ),
            (
                {"service_type": "api", "database": "none"},
                {"database": "none", "port": 8000},
                {"broker", "schedule"},
            ),
        ],
        ids=["worker", "cronjob", "api-without-database"],
    )
    def test_only_the_questions_of_the_type_are_answered(
        self, tmp_path, given, expected, absent
    ) -> None:
        """`when` decides which answers exist: broker for workers, schedule for cron jobs."""
        name = f"svc-{given['service_type']}"
        result = create_service({"service_name": name, **given}, tmp_path / name, defaults=True)
        answers = recorded(result.destination)
        assert expected.items() <= answers.items()
        assert not absent & answers.keys()

    def test_a_failing_render_leaves_no_trace(self, tmp_path: Path) -> None:
        """A template error mid-render surfaces (it is a bug), and no folder is left behind."""
        broken = copy_template(tmp_path / "broken")
        (broken / "templates" / "api" / "boom.txt.jinja").write_text("{{ 1 // 0 }}\n")
        commit_and_tag(broken, "v1.0.0")
        work = tmp_path / "work"
        work.mkdir()
        with pytest.raises(ZeroDivisionError):
            create_service(
                {"service_name": "svc"}, work / "deep" / "svc", template=str(broken), defaults=True
            )
        assert list(work.iterdir()) == []  # no staging folder, no half-made parents

    def test_works_without_a_git_identity(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A fresh machine with no user.name/user.email still gets its first commit."""
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for name in (
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
            "EMAIL",
        ):
            monkeypatch.delenv(name, raising=False)
        service = create_service(
            {"service_name": "orders"}, tmp_path / "orders", defaults=True
        ).destination
        assert git("rev-list", "--count", "HEAD", cwd=service).strip() == "1"
        assert git("status", "--porcelain", cwd=service) == ""


class TestTemplateSource:
    def test_a_release_materializes_its_templates_and_a_later_release_updates_them(
        self, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Package data (not a git repo) becomes tag v1.0.0; v1.1.0 adds a tag; copier updates."""
        bundled = copy_template(tmp_path / "site-packages" / "newservice" / "_template")
        (bundled / PROBE).write_text("release probe\nversion: 1.0.0\n")
        monkeypatch.setattr(source, "bundled_root", lambda: bundled)
        monkeypatch.setattr(source, "package_version", lambda: "1.0.0")
        service = create_service(
            {"service_name": "orders"}, tmp_path / "orders", defaults=True
        ).destination
        answers = recorded(service)
        assert answers["_commit"] == "v1.0.0"
        assert answers["_src_path"] == str(cache_dir / "template")

        # Same release, same content: the tag is reused, nothing is committed.
        assert source.resolve_source().ref == "v1.0.0"
        # The next release ships a changed template: its first use adds commit + tag v1.1.0.
        (bundled / PROBE).write_text("release probe\nversion: 1.1.0\n")
        monkeypatch.setattr(source, "package_version", lambda: "1.1.0")
        assert source.resolve_source().ref == "v1.1.0"
        assert git("tag", cwd=cache_dir / "template").split() == ["v1.0.0", "v1.1.0"]

        proc = subprocess.run(
            [sys.executable, "-m", "copier", "update", "--defaults"],
            cwd=service,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert recorded(service)["_commit"] == "v1.1.0"
        assert (service / "RELEASE_PROBE.md").read_text().endswith("version: 1.1.0\n")

    def test_changed_content_under_the_same_version_gets_a_post_release_tag(
        self, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An edited checkout never rewrites a tag: v1.0.0, then v1.0.0.post1."""
        bundled = copy_template(tmp_path / "tpl")
        monkeypatch.setattr(source, "bundled_root", lambda: bundled)
        monkeypatch.setattr(source, "package_version", lambda: "1.0.0")
        assert source.resolve_source().ref == "v1.0.0"
        (bundled / PROBE).write_text("edited\n")
        assert source.resolve_source().ref == "v1.0.0.post1"
        (bundled / PROBE).unlink()
        assert source.resolve_source().ref == "v1.0.0"  # same tree as before: same tag

    def test_a_checkout_brings_every_recorded_release(self, cache_dir: Path) -> None:
        """From this checkout, the cache repo gets each release of releases.toml with the SHA
        that a bundle built from any clone gives, plus this checkout's own content."""
        resolved = source.resolve_source()
        assert resolved.url == str(cache_dir / "template")  # outside HOME: an absolute path
        repo = cache_dir / "template"
        releases = read_record(REPO_ROOT / RECORD)
        built = build_bundle(
            REPO_ROOT, [(str(r.version), r.commit) for r in releases], cache_dir / "check.bundle"
        )
        for release in releases:
            assert git("rev-parse", release.tag, cwd=repo).strip() == built[release.tag]
        version = source.package_version()
        assert resolved.ref == f"v{version}" or (resolved.ref or "").startswith(f"v{version}.post")

    def test_a_release_tag_made_locally_by_an_older_newservice_is_moved_to_the_release(
        self, tmp_path: Path, cache_dir: Path
    ) -> None:
        """Before releases were recorded, each cache tagged its own content v0.1.0; the record is
        authoritative, so that tag now names the release (the same commit on every machine)."""
        old = copy_template(tmp_path / "old-content")
        (old / PROBE).write_text("content of some pre-release checkout\n")
        repo = cache_dir / "template"
        repo.mkdir(parents=True)
        for name in content_files(old):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(old / name, repo / name)
        commit_and_tag(repo, "v0.1.0")
        source.resolve_source()
        bundle = cache_dir / "check.bundle"
        build_bundle(
            REPO_ROOT, [(str(r.version), r.commit) for r in read_record(REPO_ROOT / RECORD)], bundle
        )
        assert git("rev-parse", "v0.1.0", cwd=repo).strip() == bundle_tags(bundle)["v0.1.0"]
        assert "pre-release" not in git("show", f"v0.1.0:{PROBE}", cwd=repo, check=False)

    def test_concurrent_creates_share_one_cache_commit(
        self, tmp_path: Path, cache_dir: Path
    ) -> None:
        """Three creates at once on an empty cache: all succeed and record the same single tag."""
        env = {**os.environ, "NEWSERVICE_CACHE_DIR": str(cache_dir)}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "newservice", "create", f"svc{i}", "--defaults"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(3)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        commits = {recorded(tmp_path / f"svc{i}")["_commit"] for i in range(3)}
        assert len(commits) == 1
        releases = {r.tag for r in read_record(REPO_ROOT / RECORD)}
        assert set(git("tag", cwd=cache_dir / "template").split()) == releases | commits
