"""Updates: a service made at template v1 follows v2 with copier update and newservice update.

The template sources are throwaway git copies of this repo's template (copier.yml, templates/,
including uncommitted work), tagged v1 and then v2 with a real change to a file every template has.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from newservice.cache import content_files
from newservice.cli import app
from newservice.create import create_service
from newservice.git import FALLBACK_IDENTITY, git
from typer.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parents[1]
PROBE = "UPDATE_PROBE.md"
V1_PROBE = (
    "# Update probe\n\nline one: from the template\nline two: v1\nline three: from the template\n"
)
V2_PROBE = V1_PROBE.replace("line two: v1", "line two: v2")
SERVICE_TYPES = ("api", "worker", "cronjob")


def _commit_all(repo: Path, message: str) -> None:
    git("add", "--all", cwd=repo)
    git(
        "commit",
        "--quiet",
        "--no-verify",
        "--no-gpg-sign",
        "-m",
        message,
        cwd=repo,
        env=FALLBACK_IDENTITY,
    )


def make_template_repo(dest: Path) -> Path:
    """A git copy of this repo's template, tagged v1 (probe file added) and v2 (probe edited)."""
    for name in content_files(REPO_ROOT):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target, follow_symlinks=False)
    git("init", "--quiet", cwd=dest)
    for kind in SERVICE_TYPES:
        (dest / "templates" / kind / PROBE).write_text(V1_PROBE)
    _commit_all(dest, "template v1")
    git("tag", "v1", cwd=dest)
    for kind in SERVICE_TYPES:
        (dest / "templates" / kind / PROBE).write_text(V2_PROBE)
    _commit_all(dest, "template v2: change line two of the probe")
    git("tag", "v2", cwd=dest)
    return dest


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template source with tags v1 and v2."""
    return make_template_repo(tmp_path_factory.mktemp("template"))


@pytest.fixture
def service_v1(template_repo: Path, tmp_path: Path) -> Path:
    """An api service generated at v1, with a committed local edit at the end of the probe."""
    result = create_service(
        {"service_name": "orders", "service_type": "api"},
        tmp_path / "orders",
        template=str(template_repo),
        vcs_ref="v1",
        defaults=True,
    )
    service = result.destination
    with (service / PROBE).open("a") as probe:
        probe.write("line four: our own edit\n")
    _commit_all(service, "local edit")
    return service


def answers(service: Path) -> dict:
    return yaml.safe_load((service / ".copier-answers.yml").read_text())


class TestCleanUpdate:
    def test_generated_at_v1_records_an_absolute_source_and_the_tag(
        self, service_v1: Path, template_repo: Path
    ) -> None:
        """The answers file holds what plain copier needs to update later."""
        recorded = answers(service_v1)
        assert recorded["_commit"] == "v1"
        assert recorded["_src_path"] == str(template_repo)
        assert Path(recorded["_src_path"]).is_absolute()
        assert "line two: v1" in (service_v1 / PROBE).read_text()

    def test_plain_copier_update_applies_v2_and_keeps_the_local_edit(
        self, service_v1: Path
    ) -> None:
        """`copier update --defaults`, without newservice, merges the template change."""
        proc = subprocess.run(
            [sys.executable, "-m", "copier", "update", "--defaults"],
            cwd=service_v1,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        probe = (service_v1 / PROBE).read_text()
        assert "line two: v2" in probe
        assert "line four: our own edit" in probe
        assert answers(service_v1)["_commit"] == "v2"

    def test_newservice_update_applies_v2_and_keeps_the_local_edit(self, service_v1: Path) -> None:
        """`newservice update PATH` does the same and says what changed."""
        result = CliRunner().invoke(app, ["update", str(service_v1)])
        assert result.exit_code == 0, result.output
        probe = (service_v1 / PROBE).read_text()
        assert "line two: v2" in probe
        assert "line four: our own edit" in probe
        assert answers(service_v1)["_commit"] == "v2"
        assert "from template v1 to v2" in result.stdout
        assert PROBE in result.stdout

    def test_vcs_ref_selects_the_target_version(self, service_v1: Path) -> None:
        """--vcs-ref v1 keeps the service where it is: nothing changes."""
        result = CliRunner().invoke(app, ["update", str(service_v1), "--vcs-ref", "v1"])
        assert result.exit_code == 0, result.output
        assert "line two: v1" in (service_v1 / PROBE).read_text()
        assert answers(service_v1)["_commit"] == "v1"


class TestUrlSource:
    def test_a_url_source_is_recorded_as_given_and_updates(
        self, template_repo: Path, tmp_path: Path
    ) -> None:
        """--template as a URL (git+file://, as a fork on a git server would be): `_src_path`
        keeps the URL, and `newservice update` follows it to v2."""
        url = f"git+{template_repo.as_uri()}"
        result = create_service(
            {"service_name": "orders"},
            tmp_path / "orders",
            template=url,
            vcs_ref="v1",
            defaults=True,
        )
        service = result.destination
        assert answers(service)["_src_path"] == url
        assert answers(service)["_commit"] == "v1"
        update = CliRunner().invoke(app, ["update", str(service)])
        assert update.exit_code == 0, update.output
        assert answers(service)["_commit"] == "v2"
        assert "line two: v2" in (service / PROBE).read_text()


class TestAdvancedSettingsSurviveUpdates:
    """Advanced settings are not asked unless `advanced` is yes, yet recorded: updates keep them."""

    @pytest.mark.parametrize("drop_advanced", [False, True], ids=["today", "before-advanced"])
    def test_plain_copier_update_keeps_an_advanced_answer(
        self, template_repo: Path, tmp_path: Path, drop_advanced: bool
    ) -> None:
        """port=8081 given at create (advanced no) survives `copier update --defaults`; so does
        it in a repo made before the `advanced` question existed (no such answer recorded)."""
        service = create_service(
            {"service_name": "orders", "service_type": "api", "port": "8081"},
            tmp_path / "orders",
            template=str(template_repo),
            vcs_ref="v1",
            defaults=True,
        ).destination
        assert answers(service)["advanced"] is False and answers(service)["port"] == 8081
        if drop_advanced:
            path = service / ".copier-answers.yml"
            path.write_text(path.read_text().replace("advanced: false\n", ""))
            _commit_all(service, "an answers file from before the advanced question")
        proc = subprocess.run(
            [sys.executable, "-m", "copier", "update", "--defaults"],
            cwd=service,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        after = answers(service)
        assert (after["_commit"], after["port"], after["advanced"]) == ("v2", 8081, False)
        assert "containerPort: 8081" in (service / "deploy/k8s/deployment.yaml").read_text()


class TestRefusedOrConflicting:
    def test_conflicting_edit_is_listed_and_exits_1(self, service_v1: Path) -> None:
        """An edit of the very line the template changed is a conflict: listed, exit status 1."""
        probe = service_v1 / PROBE
        probe.write_text(probe.read_text().replace("line two: v1", "line two: ours"))
        _commit_all(service_v1, "edit the line the template will change")
        result = CliRunner().invoke(app, ["update", str(service_v1)])
        assert result.exit_code == 1, result.output
        assert PROBE in result.stderr
        assert "conflict" in result.stderr
        text = probe.read_text()
        assert "line two: ours" in text and "line two: v2" in text
        assert "<<<<<<<" in text

    def test_conflict_as_rej_file_is_listed_and_exits_1(self, service_v1: Path) -> None:
        """--conflict rej: the file takes the template's version, our hunk lands in FILE.rej."""
        probe = service_v1 / PROBE
        probe.write_text(probe.read_text().replace("line two: v1", "line two: ours"))
        _commit_all(service_v1, "edit the line the template will change")
        result = CliRunner().invoke(app, ["update", str(service_v1), "--conflict", "rej"])
        assert result.exit_code == 1, result.output
        assert f"{PROBE}.rej" in result.stderr
        assert "line two: v2" in probe.read_text()
        assert "+line two: ours" in (service_v1 / f"{PROBE}.rej").read_text()

    def test_dirty_tree_is_refused_and_nothing_changes(self, service_v1: Path) -> None:
        """Uncommitted changes: one sentence, exit 2, the work tree untouched."""
        (service_v1 / "scratch.txt").write_text("work in progress\n")
        before = (service_v1 / PROBE).read_text()
        result = CliRunner().invoke(app, ["update", str(service_v1)])
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1
        assert "uncommitted changes" in result.stderr
        assert (service_v1 / PROBE).read_text() == before
        assert answers(service_v1)["_commit"] == "v1"

    def test_service_type_change_through_data_is_refused(self, service_v1: Path) -> None:
        """--data service_type=worker would delete the api's files: refused, exit 2."""
        result = CliRunner().invoke(
            app, ["update", str(service_v1), "--data", "service_type=worker"]
        )
        assert result.exit_code == 2
        assert "service_type cannot change from 'api' to 'worker'" in result.stderr
        assert answers(service_v1)["_commit"] == "v1"

    def test_service_type_change_in_the_answers_file_is_refused(self, service_v1: Path) -> None:
        """Editing service_type in .copier-answers.yml and committing is refused too."""
        path = service_v1 / ".copier-answers.yml"
        path.write_text(path.read_text().replace("service_type: api", "service_type: cronjob"))
        _commit_all(service_v1, "try to turn the api into a cron job")
        result = CliRunner().invoke(app, ["update", str(service_v1)])
        assert result.exit_code == 2
        assert "service_type cannot change from 'api' to 'cronjob'" in result.stderr
        assert "line two: v1" in (service_v1 / PROBE).read_text()

    def test_a_folder_that_is_not_a_service_is_refused(self, tmp_path: Path) -> None:
        """No answers file: one sentence naming it, exit 2."""
        result = CliRunner().invoke(app, ["update", str(tmp_path)])
        assert result.exit_code == 2
        assert ".copier-answers.yml" in result.stderr
        assert list(tmp_path.iterdir()) == []

    def test_unreadable_recorded_source_is_refused(self, service_v1: Path, tmp_path: Path) -> None:
        """The recorded template source has moved: one sentence naming it, exit 2."""
        path = service_v1 / ".copier-answers.yml"
        moved = tmp_path / "moved-away"
        recorded = answers(service_v1)
        path.write_text(path.read_text().replace(recorded["_src_path"], str(moved)))
        _commit_all(service_v1, "point at a template source that does not exist")
        result = CliRunner().invoke(app, ["update", str(service_v1)])
        assert result.exit_code == 2, result.output
        assert f"the template source {moved} recorded in .copier-answers.yml" in result.stderr
        assert "could not be read" in result.stderr

    def test_unknown_vcs_ref_is_refused(self, service_v1: Path) -> None:
        """--vcs-ref naming no tag of the recorded source: exit 2, the tags listed."""
        result = CliRunner().invoke(app, ["update", str(service_v1), "--vcs-ref", "v9"])
        assert result.exit_code == 2
        assert "--vcs-ref v9 is not a tag" in result.stderr and "v1, v2" in result.stderr
