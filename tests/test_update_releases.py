"""Upgrade test: a service made by EVERY release (releases.toml) updates to HEAD, per service type.

Each service gets a team's typical edits before the update (a new module or route wired in, a
changed setting, an edited README). After `newservice update` to this checkout's templates:
exit 0, no conflict markers, and the repo is exactly what a fresh create at HEAD plus the same
edits gives (so the merge lost nothing and applied everything); ruff passes on it.

The releases come from the committed record through the same bundle a wheel ships (built from
this clone's history), into a private template cache.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from newservice import source
from newservice.cli import app
from newservice.create import create_service
from newservice.git import FALLBACK_IDENTITY, git
from newservice.releases import RECORD, read_record
from typer.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parents[1]
RELEASES = [release.tag for release in read_record(REPO_ROOT / RECORD)]
NAMES = {"api": "orders", "worker": "notify", "cronjob": "report"}
TEAM_NOTE = "Team note: the squad's runbook and on-call rota are in the team wiki."


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer has {old!r}: update this test's edit"
    path.write_text(text.replace(old, new, 1))


def _module(path: Path, body: str) -> None:
    path.write_text(f'"""The team\'s own code."""\n\nfrom __future__ import annotations\n\n{body}')


def edit_api(repo: Path) -> None:
    pkg = repo / "orders"
    _module(
        pkg / "api" / "routes" / "customers.py",
        'from fastapi import APIRouter\n\nrouter = APIRouter(prefix="/api/v1/customers", '
        'tags=["customers"])\n\n\n@router.get("")\nasync def list_customers() -> list[str]:\n'
        "    return []\n",
    )
    main = pkg / "api" / "main.py"
    _replace(
        main, "from .routes import health, orders", "from .routes import customers, health, orders"
    )
    _replace(
        main,
        "    app.include_router(orders.router)\n",
        "    app.include_router(orders.router)\n    app.include_router(customers.router)\n",
    )
    _replace(
        pkg / "settings.py",
        "READINESS_TIMEOUT: float = Field(default=2.0,",
        "READINESS_TIMEOUT: float = Field(default=3.0,",
    )


def edit_worker(repo: Path) -> None:
    _module(repo / "notify" / "enrich.py", '\ndef region(order_id: str) -> str:\n    return "eu"\n')
    _replace(
        repo / "notify" / "settings.py",
        "MAX_ATTEMPTS: PositiveInt = 5",
        "MAX_ATTEMPTS: PositiveInt = 8",
    )


def edit_cronjob(repo: Path) -> None:
    _module(
        repo / "report" / "holidays.py", "\ndef is_holiday(day: int) -> bool:\n    return False\n"
    )
    _replace(
        repo / "report" / "settings.py",
        "PUSH_TIMEOUT: float = Field(5.0,",
        "PUSH_TIMEOUT: float = Field(7.5,",
    )


EDITS: dict[str, Callable[[Path], None]] = {
    "api": edit_api,
    "worker": edit_worker,
    "cronjob": edit_cronjob,
}


def edit(repo: Path, kind: str) -> None:
    """The team's edits: README note under the title, then the type's code and setting."""
    readme = repo / "README.md"
    title, _, rest = readme.read_text().partition("\n")
    readme.write_text(f"{title}\n\n{TEAM_NOTE}\n{rest}")
    EDITS[kind](repo)
    git("add", "--all", cwd=repo)
    git(
        "commit",
        "-q",
        "--no-verify",
        "--no-gpg-sign",
        "-m",
        "team edits",
        cwd=repo,
        env=FALLBACK_IDENTITY,
    )


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A template cache of its own: the releases are imported into it from this clone."""
    with pytest.MonkeyPatch.context() as patch:
        cache = tmp_path_factory.mktemp("release-cache")
        patch.setenv("NEWSERVICE_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(scope="module")
def head_tag(private_cache: Path) -> str:
    """The tag this checkout's templates get: a release's, or v<version>.postN when unreleased."""
    return source.resolve_source().ref or ""


@pytest.fixture(scope="module")
def head_with_edits(head_tag: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per type, lazily: a fresh create at HEAD with the same team edits (the expected result)."""
    return {}


def files(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }


def test_there_are_two_releases_to_update_between() -> None:
    """The record holds at least the two releases this test walks (0.1.0 and 0.2.0)."""
    assert RELEASES[:2] == ["v0.1.0", "v0.2.0"]


@pytest.mark.parametrize("kind", list(NAMES))
@pytest.mark.parametrize("release", RELEASES)
def test_every_release_updates_to_head_keeping_typical_edits(
    release: str,
    kind: str,
    head_tag: str,
    head_with_edits: dict[str, Path],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    answers = {"service_name": NAMES[kind], "service_type": kind}
    service = create_service(answers, tmp_path / NAMES[kind], vcs_ref=release, defaults=True)
    repo = service.destination
    assert yaml.safe_load((repo / ".copier-answers.yml").read_text())["_commit"] == release
    edit(repo, kind)

    result = CliRunner().invoke(app, ["update", str(repo)])
    assert result.exit_code == 0, result.output
    recorded = yaml.safe_load((repo / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == head_tag
    updated = files(repo)
    marked = [n for n, data in updated.items() if b"<<<<<<< " in data or b">>>>>>> " in data]
    assert marked == [] and not [n for n in updated if n.endswith(".rej")]

    if kind not in head_with_edits:
        expected = tmp_path_factory.mktemp(f"head-{kind}") / NAMES[kind]
        create_service(answers, expected, defaults=True)
        edit(expected, kind)
        head_with_edits[kind] = expected
    expected_files = files(head_with_edits[kind])
    assert sorted(updated) == sorted(expected_files)
    differing = [name for name in updated if updated[name] != expected_files[name]]
    assert differing == [], f"{release} -> {head_tag} differs from a fresh create: {differing}"

    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--quiet", "."],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
