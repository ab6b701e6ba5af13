"""Adding the events and cache answers to an existing service with `newservice update --data`.

An api service generated without them (events none, cache none) and edited by its team gains
`events=...` or `cache=redis` through `newservice update --data ...` (on PostgreSQL, and the
events on MongoDB and DynamoDB): every file then equals a
fresh render with those answers, except for the team's own edit, which is kept. The template
source is a throwaway tagged git copy of this repo's template (tests/test_update.py's).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from newservice.cli import app
from newservice.create import create_service
from typer.testing import CliRunner

from tests.test_update import _commit_all, answers, make_template_repo

TEAM_NOTE = "\n## Team notes\n\nOn call: #orders-oncall.\n"


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template_repo(tmp_path_factory.mktemp("template"))


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def _create(template_repo: Path, dest: Path, **answers: str) -> Path:
    result = create_service(
        {"service_name": "orders", "service_type": "api", **answers},
        dest,
        template=str(template_repo),
        vcs_ref="v2",
        defaults=True,
    )
    return result.destination


@pytest.mark.parametrize(
    ("database", "answer"),
    [
        ("postgresql", "events=kafka"),
        ("postgresql", "cache=redis"),
        # The outbox of the document stores: a collection in MongoDB's transaction, an item in
        # DynamoDB's TransactWriteItems (their storage modules change with the answer too).
        ("mongodb", "events=redis"),
        ("dynamodb", "events=nats"),
    ],
)
def test_update_with_data_equals_a_fresh_render_and_keeps_the_teams_edit(
    template_repo: Path, tmp_path: Path, database: str, answer: str
) -> None:
    service = _create(template_repo, tmp_path / "service", database=database)
    with (service / "README.md").open("a") as readme:
        readme.write(TEAM_NOTE)
    _commit_all(service, "team notes")

    result = CliRunner().invoke(app, ["update", str(service), "--data", answer])
    assert result.exit_code == 0, result.output

    key, value = answer.split("=")
    assert answers(service)[key] == value
    fresh = _create(template_repo, tmp_path / "fresh", database=database, **{key: value})
    updated, expected = _files(service), _files(fresh)
    assert updated["README.md"] == expected["README.md"] + TEAM_NOTE.encode()
    assert sorted(updated) == sorted(expected)
    differing = [name for name in expected if updated[name] != expected[name]]
    assert differing == ["README.md"], differing
    new_files = {"events": "orders/outbox/relay.py", "cache": "orders/cache/cached.py"}
    assert new_files[key] in updated
