"""A worker made before the inbox was keyed on (source, id) follows with `copier update` + migrate.

The template source is a throwaway git repo: v1 holds the template as it was just before
migration 0002 was added (read from this repo's history), v2 the working tree. A worker generated
at v1 records events in PostgreSQL with its own `migrate`; plain `copier update` brings in v2 and
`migrate` moves the inbox, with its rows, to the key (source, event_id).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from newservice.cache import TEMPLATE_ENTRIES, content_files
from newservice.create import create_service
from newservice.git import FALLBACK_IDENTITY, git

from tests.support.render import CURRENT_PYTHON, REPO_ROOT
from tests.support.services import fresh_database
from tests.support.venv import run_in, venv_for

MIGRATION = (
    "templates/worker/{{ package_name }}/migrations/versions/0002_inbox_keyed_on_source_and_id.py"
)
PACKAGE = "notifications"

pytestmark = pytest.mark.timeout(600)


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


def before_migration_0002() -> str:
    """The commit just before the one that added migration 0002 (fails without git history)."""
    added = git("log", "--diff-filter=A", "--format=%H", "--", MIGRATION, cwd=REPO_ROOT).split()
    if not added:  # not committed yet: the working tree's HEAD is the previous version
        return git("rev-parse", "HEAD", cwd=REPO_ROOT).strip()
    return git("rev-parse", f"{added[-1]}^", cwd=REPO_ROOT).strip()


def make_template_repo(dest: Path) -> Path:
    """A template source tagged v1 (before 0002) and v2 (this working tree)."""
    commit = before_migration_0002()
    present = set(git("ls-tree", "--name-only", commit, cwd=REPO_ROOT).split())
    entries = [entry for entry in TEMPLATE_ENTRIES if entry in present]
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, *entries],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    assert not (dest / MIGRATION).exists()
    git("init", "--quiet", cwd=dest)
    _commit_all(dest, "template v1: inbox keyed on id")
    git("tag", "v1", cwd=dest)
    for entry in TEMPLATE_ENTRIES:
        shutil.rmtree(dest / entry, ignore_errors=True)
        (dest / entry).unlink(missing_ok=True)
    for name in content_files(REPO_ROOT):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target, follow_symlinks=False)
    _commit_all(dest, "template v2: inbox keyed on (source, id)")
    git("tag", "v2", cwd=dest)
    return dest


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database("inbox_update") as url:
        yield url


def migrate(service: Path, venv: Path, database_url: str) -> None:
    result = run_in(
        service,
        venv,
        "python",
        "-m",
        PACKAGE,
        "migrate",
        env={"DATABASE_URL": database_url},
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_copier_update_and_migrate_move_the_inbox_to_source_and_id(
    tmp_path: Path, database_url: str
) -> None:
    """Rows recorded at v1 survive with the legacy source; the key is (source, event_id) after."""
    template = make_template_repo(tmp_path / "template")
    service = create_service(
        {"service_type": "worker", "broker": "rabbitmq", "python_version": CURRENT_PYTHON},
        tmp_path / "notifications",
        template=str(template),
        vcs_ref="v1",
        defaults=True,
    ).destination
    # v2's dependencies include v1's (it adds the CloudEvents SDK): one venv runs both versions.
    venv = venv_for(service)
    migrate(service, venv, database_url)
    with psycopg.connect(database_url) as connection:
        connection.execute("INSERT INTO inbox (event_id) VALUES ('e-1'), ('e-2')")
        connection.execute(
            "INSERT INTO notifications (event_id, order_id, recipient, message)"
            " VALUES ('e-1', 'o-1', 'a@example.com', 'hi'), ('e-2', 'o-2', 'b@example.com', 'hi')"
        )

    update = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults"],
        cwd=service,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert update.returncode == 0, update.stderr
    assert yaml.safe_load((service / ".copier-answers.yml").read_text())["_commit"] == "v2"
    assert (service / PACKAGE / "migrations" / "versions" / Path(MIGRATION).name).is_file()
    assert not list(service.rglob("*.rej"))
    migrate(service, venv, database_url)

    with psycopg.connect(database_url) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)
        inbox = connection.execute(
            "SELECT source, event_id FROM inbox ORDER BY event_id"
        ).fetchall()
        assert inbox == [("/orders", "e-1"), ("/orders", "e-2")]
        notified = connection.execute(
            "SELECT event_source, event_id FROM notifications ORDER BY event_id"
        ).fetchall()
        assert notified == [("/orders", "e-1"), ("/orders", "e-2")]
        key = connection.execute(
            "SELECT array_agg(a.attname ORDER BY array_position(i.indkey, a.attnum))"
            " FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'inbox'::regclass AND i.indisprimary"
        ).fetchone()
        assert key == (["source", "event_id"],)
        # The same id from another source is another event; from the same source it is not.
        connection.execute("INSERT INTO inbox (source, event_id) VALUES ('/returns', 'e-1')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            connection.execute("INSERT INTO inbox (source, event_id) VALUES ('/orders', 'e-1')")
