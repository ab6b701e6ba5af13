"""Updates never lose a team's work: the pains most reported against copier, cruft and aegis-stack.

The template source is a throwaway git copy of this repo's template (as in test_update.py) with
probe files in the api template: v1 adds them, v2 removes one, renames one, changes others. Each
test makes an api service at v1, commits a team's edits, and updates it to v2 with
`newservice update`, as a team would. For speed the copy keeps the real question spec
(copier.yml, its validators) and the api's answers file but none of the api's other files: the
update path (copier's merge, newservice's checks and guard) is the same for any file;
test_update_releases.py updates the full templates.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from newservice.cache import content_files
from newservice.cli import app
from newservice.create import create_service
from newservice.git import FALLBACK_IDENTITY, git
from typer.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parents[1]
ANSWERS = "{{ _copier_conf.answers_file }}.jinja"
LINES = [f"line {n}: from the template" for n in range(1, 21)]

# name in v1 -> content in v1, and name in v2 (None: removed) -> content in v2
V1 = {
    "TWO_HUNKS.md": LINES,
    "REMOVED.md": LINES[:5],
    "OLD_NAME.md": LINES[:12],
    "CHANGED.md": LINES[:6],
}
V2 = {
    "TWO_HUNKS.md": [
        *LINES[:1],
        "line 2: the template's v2",
        *LINES[2:17],
        "line 18: the template's v2",
        *LINES[18:],
    ],
    "NEW_NAME.md": [*LINES[:11], "line 12: the template's v2"],
    "CHANGED.md": [*LINES[:5], "line 6: the template's v2"],
}


def _write(folder: Path, files: dict[str, list[str]]) -> None:
    for name, lines in files.items():
        (folder / name).write_text("\n".join(lines) + "\n")


def commit_all(repo: Path, message: str) -> None:
    git("add", "--all", cwd=repo)
    git("commit", "-q", "--no-verify", "--no-gpg-sign", "-m", message, cwd=repo,
        env=FALLBACK_IDENTITY)  # fmt: skip


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("safety-template")
    kept = ("copier.yml", "templates/_shared/validators.jinja", f"templates/api/{ANSWERS}")
    for name in content_files(REPO_ROOT):
        if name not in kept:
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, dest / name, follow_symlinks=False)
    git("init", "-q", cwd=dest)
    api = dest / "templates" / "api"
    _write(api, V1)
    commit_all(dest, "v1")
    git("tag", "v1", cwd=dest)
    for name in V1:
        (api / name).unlink()
    _write(api, V2)
    commit_all(dest, "v2: REMOVED.md removed, OLD_NAME.md renamed to NEW_NAME.md, edits")
    git("tag", "v2", cwd=dest)
    return dest


@pytest.fixture
def service(template_repo: Path, tmp_path: Path) -> Path:
    return create_service(
        {"service_name": "orders", "service_type": "api"},
        tmp_path / "orders",
        template=str(template_repo),
        vcs_ref="v1",
        defaults=True,
    ).destination


def edit(service: Path, name: str, old: str, new: str) -> None:
    path = service / name
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new))


def update(service: Path, *args: str):  # -> click.testing.Result
    return CliRunner().invoke(app, ["update", str(service), *args])


def commit_of(service: Path) -> str:
    return yaml.safe_load((service / ".copier-answers.yml").read_text())["_commit"]


def test_a_file_the_team_deleted_stays_deleted(service: Path) -> None:
    """CHANGED.md deleted by the team, changed by v2: the update does not bring it back."""
    (service / "CHANGED.md").unlink()
    commit_all(service, "we do not need CHANGED.md")
    result = update(service)
    assert result.exit_code == 0, result.output
    assert not (service / "CHANGED.md").exists()
    assert commit_of(service) == "v2"


def test_a_file_the_template_removed_is_removed(service: Path) -> None:
    """REMOVED.md, untouched by the team, goes away with v2."""
    result = update(service)
    assert result.exit_code == 0, result.output
    assert not (service / "REMOVED.md").exists()
    assert "REMOVED.md" in result.stdout  # listed among the changed paths


def test_a_removed_file_the_team_changed_is_kept_and_reported(service: Path) -> None:
    """REMOVED.md edited by the team: copier alone deletes it (and the edit); newservice restores
    the team's file, names it, and exits 1 so that someone decides."""
    edit(service, "REMOVED.md", "line 3: from the template", "line 3: our runbook link")
    commit_all(service, "team edit")
    result = update(service)
    assert result.exit_code == 1, result.output
    assert "removed 1 file(s) you changed" in result.stderr and "REMOVED.md" in result.stderr
    assert "line 3: our runbook link" in (service / "REMOVED.md").read_text()
    assert git("status", "--porcelain", "--", "REMOVED.md", cwd=service) == ""  # as committed
    assert commit_of(service) == "v2"  # the rest of the update went through


def test_two_conflicting_hunks_keep_both_markers_and_lose_nothing(service: Path) -> None:
    """Team and template both change lines 2 and 18: two conflict blocks, every version kept."""
    edit(service, "TWO_HUNKS.md", "line 2: from the template", "line 2: ours")
    edit(service, "TWO_HUNKS.md", "line 18: from the template", "line 18: ours")
    commit_all(service, "team edits")
    result = update(service)
    assert result.exit_code == 1, result.output
    assert "TWO_HUNKS.md" in result.stderr
    text = (service / "TWO_HUNKS.md").read_text()
    assert text.count("<<<<<<<") == 2 and text.count(">>>>>>>") == 2 and text.count("=======") == 2
    for line in ("line 2: ours", "line 2: the template's v2", "line 18: ours",
                 "line 18: the template's v2", "line 10: from the template"):  # fmt: skip
        assert line in text, line


def test_a_renamed_file_carries_the_team_edits_over(service: Path) -> None:
    """OLD_NAME.md -> NEW_NAME.md in v2 (and line 12 changed); the team's edit of line 3 lands in
    NEW_NAME.md with the template's change, and OLD_NAME.md is gone."""
    edit(service, "OLD_NAME.md", "line 3: from the template", "line 3: ours")
    commit_all(service, "team edit")
    result = update(service)
    assert result.exit_code == 0, result.output
    text = (service / "NEW_NAME.md").read_text()
    assert "line 3: ours" in text and "line 12: the template's v2" in text
    assert "<<<<<<<" not in text
    assert not (service / "OLD_NAME.md").exists()
    assert "renamed OLD_NAME.md to NEW_NAME.md" in result.stdout


def test_a_renamed_file_with_an_overlapping_edit_reports_a_conflict(service: Path) -> None:
    """The team changed line 12, which the template also changed while renaming the file:
    conflict markers in NEW_NAME.md holding both versions, listed, exit 1."""
    edit(service, "OLD_NAME.md", "line 12: from the template", "line 12: ours")
    commit_all(service, "team edit")
    result = update(service)
    assert result.exit_code == 1, result.output
    assert "NEW_NAME.md" in result.stderr
    text = (service / "NEW_NAME.md").read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert "line 12: ours" in text and "line 12: the template's v2" in text


def test_the_same_update_twice_gives_the_same_result(service: Path, tmp_path: Path) -> None:
    """Two clones of one service updated alike end with the same tree; updating again after the
    update is committed changes nothing."""
    edit(service, "CHANGED.md", "line 2: from the template", "line 2: ours")
    commit_all(service, "team edit")
    twin = tmp_path / "twin"
    git("clone", "-q", str(service), str(twin))
    trees = []
    for repo in (service, twin):
        result = update(repo)
        assert result.exit_code == 0, result.output
        git("add", "--all", cwd=repo)
        trees.append(git("write-tree", cwd=repo).strip())
    assert trees[0] == trees[1]
    commit_all(service, "update to v2")
    again = update(service)
    assert again.exit_code == 0, again.output
    assert "already at template v2; nothing changed" in again.stdout
    assert git("status", "--porcelain", cwd=service) == ""
    assert git("write-tree", cwd=service).strip() == trees[0]
