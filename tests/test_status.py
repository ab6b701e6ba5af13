"""`newservice status`: versions, releases behind, dirty trees and predicted update conflicts of a
fleet, computed without touching any repo.

The template sources are throwaway tagged git copies of this repo's template (v1, v2), as in
test_update.py; the repos are made with `newservice create` at v1 or v2.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pexpect
import pytest
from newservice.cli import app
from newservice.create import create_service
from newservice.git import git
from newservice.status import fleet_status, release_tags
from typer.testing import CliRunner

from tests.test_update import PROBE, _commit_all, make_template_repo

REPO_ROOT = Path(__file__).resolve().parents[1]


def _create(template: Path, dest: Path, kind: str, ref: str) -> Path:
    return create_service(
        {"service_name": dest.name, "service_type": kind},
        dest,
        template=str(template),
        vcs_ref=ref,
        defaults=True,
    ).destination


def _edit_probe_line_two(repo: Path) -> None:
    probe = repo / PROBE
    probe.write_text(probe.read_text().replace("line two: v1", "line two: ours"))
    _commit_all(repo, "edit the line the template changes in v2")


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template_repo(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="module")
def fleet(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """orders (api, v1, untouched), notifications (worker, v1, edits the line v2 changes),
    daily-report (cronjob, v2), billing (api, v1, uncommitted scratch file), and a nested
    folder holding one more repo (team-b/payments, api, v1, an edit v2 merges cleanly)."""
    root = tmp_path_factory.mktemp("fleet")
    _create(template_repo, root / "orders", "api", "v1")
    _edit_probe_line_two(_create(template_repo, root / "notifications", "worker", "v1"))
    _create(template_repo, root / "daily-report", "cronjob", "v2")
    billing = _create(template_repo, root / "billing", "api", "v1")
    (billing / "scratch.txt").write_text("work in progress\n")
    payments = _create(template_repo, root / "team-b" / "payments", "api", "v1")
    with (payments / PROBE).open("a") as probe:
        probe.write("line four: our own\n")
    _commit_all(payments, "an edit the update merges")
    (root / "notes").mkdir()
    (root / "notes" / "README.md").write_text("not a service\n")
    return root


def _snapshot(repo: Path) -> dict[str, str]:
    """Every file of the repo, .git included (but git's own stat cache, the index), by hash."""
    found = {}
    for path in sorted(repo.rglob("*")):
        if path.is_file() and path.relative_to(repo).as_posix() != ".git/index":
            found[path.relative_to(repo).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _by_name(report: dict) -> dict[str, dict]:
    return {Path(row["path"]).name: row for row in report["repos"]}


@pytest.fixture(scope="module")
def fleet_run(fleet: Path) -> tuple[object, dict, dict]:
    """One `newservice status FLEET --json`, with every repo's files hashed before and after."""
    repos = [p.parent for p in fleet.rglob(".copier-answers.yml")]
    before = {repo: _snapshot(repo) for repo in repos}
    result = CliRunner().invoke(app, ["status", str(fleet), "--json"])
    after = {repo: _snapshot(repo) for repo in repos}
    return result, before, after


class TestFleetReport:
    def test_json_reports_each_repo(self, fleet_run: tuple, template_repo: Path) -> None:
        """Type, key answers, source, version, newest, behind, dirty and the predicted outcome."""
        result = fleet_run[0]
        report = json.loads(result.stdout)
        rows = _by_name(report)
        assert sorted(rows) == ["billing", "daily-report", "notifications", "orders", "payments"]
        orders = rows["orders"]
        assert orders["service_type"] == "api"
        assert orders["answers"]["database"] == "postgresql"
        assert orders["source"] == str(template_repo)
        assert (orders["version"], orders["newest"], orders["behind"]) == ("v1", "v2", 1)
        assert (orders["state"], orders["would_conflict"], orders["dirty"]) == (
            "behind",
            False,
            False,
        )
        worker = rows["notifications"]
        assert worker["answers"]["broker"] == "rabbitmq"
        assert worker["state"] == "conflict" and worker["conflicts"] == [PROBE]
        assert rows["daily-report"]["state"] == "current" and rows["daily-report"]["behind"] == 0
        assert rows["billing"]["dirty"] is True and rows["billing"]["state"] == "behind"
        assert rows["payments"]["state"] == "behind"
        assert report["summary"] == {"current": 1, "behind": 3, "conflict": 1, "unknown": 0}
        assert result.exit_code == 3

    def test_no_repo_is_touched(self, fleet_run: tuple, fleet: Path) -> None:
        """The trial updates run in throwaway clones: every file of every repo (and its .git:
        refs, objects, config, worktrees) is byte for byte what it was."""
        result, before, after = fleet_run
        assert result.exit_code == 3, result.output
        assert len(before) == 5
        for repo, files in before.items():
            assert after[repo] == files, repo
        assert git("status", "--porcelain", cwd=fleet / "billing").strip() == "?? scratch.txt"

    def test_table_names_each_repo_and_outcome(self, fleet: Path) -> None:
        """The default output is a table: one row per repo, the conflicting file named."""
        folders = [fleet / name for name in ("notifications", "daily-report", "team-b")]
        result = CliRunner().invoke(app, ["status", *map(str, folders)])
        assert result.exit_code == 3
        for name in ("notifications", "daily-report", "team-b/payments"):
            assert name in result.stdout
        assert f"CONFLICT: {PROBE}" in result.stdout
        assert "clean merge" in result.stdout and "up to date" in result.stdout
        assert "3 repo(s): 1 current, 1 behind (clean update), 1 would conflict" in result.stdout
        assert result.stderr == ""  # no progress bar without a terminal

    def test_parallel_and_serial_agree(self, fleet: Path) -> None:
        """Processes (jobs=2) and one at a time (jobs=1) give the same answers."""
        repos = [fleet / "orders", fleet / "notifications", fleet / "team-b" / "payments"]
        serial = [row.as_json() for row in fleet_status(repos, jobs=1)]
        parallel = [row.as_json() for row in fleet_status(repos, jobs=2)]
        assert serial == parallel


class TestExitStatus:
    def test_all_current_is_0(self, fleet: Path) -> None:
        result = CliRunner().invoke(app, ["status", str(fleet / "daily-report")])
        assert result.exit_code == 0, result.output
        assert "up to date" in result.stdout

    def test_behind_with_clean_updates_is_1(self, fleet: Path) -> None:
        result = CliRunner().invoke(
            app, ["status", str(fleet / "orders"), str(fleet / "team-b"), "--json"]
        )
        assert result.exit_code == 1, result.output
        assert {row["state"] for row in json.loads(result.stdout)["repos"]} == {"behind"}

    def test_a_conflict_is_3(self, fleet: Path) -> None:
        result = CliRunner().invoke(app, ["status", str(fleet / "notifications")])
        assert result.exit_code == 3

    def test_a_template_source_gone_is_4(self, template_repo: Path, tmp_path: Path) -> None:
        """The recorded source no longer exists: 'unknown' with the reason, exit 4."""
        moved = tmp_path / "template-moved"
        shutil.copytree(template_repo, moved)
        repo = _create(moved, tmp_path / "fleet" / "orders", "api", "v1")
        shutil.rmtree(moved)
        result = CliRunner().invoke(app, ["status", str(tmp_path / "fleet"), "--json"])
        assert result.exit_code == 4, result.output
        (row,) = json.loads(result.stdout)["repos"]
        assert row["state"] == "unknown" and row["would_conflict"] is None
        assert str(moved) in row["error"] and Path(row["path"]) == repo

    def test_a_missing_folder_is_2_with_one_sentence(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(app, ["status", str(tmp_path / "nope")])
        assert result.exit_code == 2
        assert result.stderr == f"error: {tmp_path / 'nope'} is not a folder.\n"

    def test_no_generated_repo_is_2(self, tmp_path: Path) -> None:
        (tmp_path / "plain").mkdir()
        result = CliRunner().invoke(app, ["status", str(tmp_path)])
        assert result.exit_code == 2
        assert "no generated repository" in result.stderr
        assert result.stderr.count("\n") == 1


class TestReleases:
    def test_release_tags_follow_copier(self, tmp_path: Path) -> None:
        """copier's notion: PEP 440 tags in version order (v10 after v9), pre-releases and tags
        that are not versions left out."""
        repo = tmp_path / "tags"
        repo.mkdir()
        git("init", "--quiet", cwd=repo)
        (repo / "f").write_text("x")
        _commit_all(repo, "one")
        for tag in ("v9", "v10", "v1.2.0", "v11rc1", "latest", "v2.0.0.dev1"):
            git("tag", tag, cwd=repo)
        assert release_tags(str(repo)) == ["v1.2.0", "v9", "v10"]

    def test_another_release_list_can_be_plugged_in(self, fleet: Path) -> None:
        """`releases` is the one seam: a list that ends at v1 makes the v1 repos current."""
        rows = fleet_status([fleet / "orders"], releases=lambda source: ["v1"])
        assert (rows[0].state, rows[0].behind, rows[0].newest) == ("current", 0, "v1")

    def test_each_template_version_is_checked_out_once(
        self, fleet: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Three repos behind on one source: two checkouts (v1, v2), not one clone per render."""
        import copier._template
        import copier._vcs

        calls: list[str] = []
        real_clone = copier._vcs.clone

        def counting_clone(url: str, ref: str = "HEAD", location: str | None = None) -> str:
            calls.append(ref)
            return real_clone(url, ref, location)

        monkeypatch.setattr(copier._vcs, "clone", counting_clone)
        monkeypatch.setattr(copier._template, "clone", counting_clone)
        repos = [fleet / "orders", fleet / "billing", fleet / "team-b" / "payments"]
        rows = fleet_status(repos, jobs=1)
        assert [row.state for row in rows] == ["behind"] * 3
        assert sorted(calls) == ["v1", "v2"]

    def test_worker_processes_render_from_the_checkouts_too(
        self, fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With a pool (jobs=2), no worker process clones the template: copier's own clone (as
        its Template calls it) is replaced here, before the workers are forked, by one that
        records each call in a file the workers share."""
        import copier._template

        record = tmp_path / "clones"
        record.write_text("")
        real_clone = copier._template.clone

        def recording_clone(url: str, ref: str = "HEAD", location: str | None = None) -> str:
            with record.open("a") as out:
                out.write(f"{ref}\n")
            return real_clone(url, ref, location)

        monkeypatch.setattr(copier._template, "clone", recording_clone)
        repos = [fleet / "orders", fleet / "notifications", fleet / "billing"]
        rows = fleet_status(repos, jobs=2)
        assert [row.state for row in rows] == ["behind", "conflict", "behind"]
        assert record.read_text() == ""


def test_progress_bar_on_a_terminal(fleet: Path) -> None:
    """In a terminal, a progress bar runs on stderr while the repos are checked."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "newservice", "status", str(fleet / "orders"), str(fleet / "billing")],
        env={"PYTHONPATH": str(REPO_ROOT / "generator"), "PATH": "/usr/bin:/bin", "TERM": "xterm"},
        dimensions=(40, 200),
        timeout=120,
        encoding="utf-8",
    )
    child.expect("checking repos")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
