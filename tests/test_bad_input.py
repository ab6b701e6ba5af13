"""Bad input: one sentence on stderr naming the field and what is allowed, exit 2, disk as is."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from contextlib import chdir
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from newservice.cli import app
from newservice.git import FALLBACK_IDENTITY, git
from typer.testing import CliRunner

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` with its kind and content hash: equal snapshots, untouched disk."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            result[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            path = Path(dirpath, name)
            result[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def run_create(workdir: Path, *args: str):
    """`newservice create ARGS` through typer's runner, with `workdir` as the current folder."""
    with chdir(workdir):
        return CliRunner().invoke(app, ["create", *args])


def assert_refused(result, *fragments: str) -> None:
    """Exit 2, one line on stderr containing every fragment, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A current folder holding one unrelated file, to prove nothing else is touched."""
    (tmp_path / "keep.txt").write_text("unrelated\n")
    return tmp_path


CASES = {
    # id: (arguments, fragments the one sentence must contain)
    "name-uppercase": (
        ["Orders", "--defaults"],
        ["service_name must be a DNS-1123 label", "'Orders'"],
    ),
    "name-underscore": (["my_service", "--defaults"], ["service_name must be a DNS-1123 label"]),
    "name-too-long": (["a" * 64, "--defaults"], ["service_name must be a DNS-1123 label", "63"]),
    "name-starts-with-digit": (
        ["1orders", "--defaults"],
        ["service_name must be a DNS-1123 label"],
    ),
    "name-ends-with-dash": (["orders-", "--defaults"], ["service_name must be a DNS-1123 label"]),
    "name-escapes-parent": (
        ["../evil", "--defaults"],
        ["service_name '../evil' would escape the output folder"],
    ),
    "name-escapes-absolute": (["/tmp/evil", "--defaults"], ["would escape the output folder"]),
    "name-escapes-subfolder": (["a/b", "--defaults"], ["would escape the output folder"]),
    "name-escapes-via-data": (
        ["--data", "service_name=..", "--defaults"],
        ["would escape the output folder"],
    ),
    "cron-too-few-fields": (
        ["job", "--type", "cronjob", "--data", "schedule=0 2 * *", "--defaults"],
        ["schedule must be a cron expression of 5 fields", "'0 2 * *'"],
    ),
    "cron-minute-out-of-range": (
        ["job", "--type", "cronjob", "--data", "schedule=61 2 * * *", "--defaults"],
        ["schedule '61 2 * * *' is not a valid cron expression", "minute"],
    ),
    "repository-url-not-https": (
        ["svc", "--data", "repository_url=http://github.com/acme/svc", "--defaults"],
        ["repository_url must be an https address", "'http://github.com/acme/svc'"],
    ),
    "repository-url-without-a-name": (
        ["svc", "--data", "repository_url=https://github.com/acme", "--defaults"],
        ["repository_url must be an https address", "at least a group and a name"],
    ),
    "cpu-quantity": (
        ["svc", "--data", "cpu_request=100x", "--defaults"],
        ["cpu_request must be a positive Kubernetes CPU quantity", "'100x'"],
    ),
    "memory-quantity": (
        ["svc", "--data", "memory_limit=512MB", "--defaults"],
        ["memory_limit must be a positive Kubernetes memory quantity", "'512MB'"],
    ),
    "port-too-high": (
        ["svc", "--data", "port=70000", "--defaults"],
        ["port must be a whole number from 1 to 65535", "'70000'"],
    ),
    "port-zero": (
        ["svc", "--data", "port=0", "--defaults"],
        ["port must be a whole number from 1 to 65535"],
    ),
    "port-not-a-number": (
        ["svc", "--data", "port=http", "--defaults"],
        ["port must be a whole number", "'http'"],
    ),
    "request-timeout-too-long": (
        ["svc", "--data", "request_timeout=120", "--defaults"],
        ["request_timeout must be a number of seconds from 0.05 to 60", "'120'"],
    ),
    "request-timeout-not-a-number": (
        ["svc", "--data", "request_timeout=fast", "--defaults"],
        ["request_timeout must be a number", "'fast'"],
    ),
    "unknown-type": (
        ["svc", "--type", "lambda", "--defaults"],
        ["service_type must be one of api, worker, cronjob", "'lambda'"],
    ),
    "unknown-database": (
        ["svc", "--database", "oracle", "--defaults"],
        ["database must be one of postgresql, mysql, mongodb, dynamodb, none", "'oracle'"],
    ),
    "unknown-broker": (
        ["svc", "--type", "worker", "--broker", "mqtt", "--defaults"],
        ["broker must be one of rabbitmq, kafka, sqs, nats, redis", "'mqtt'"],
    ),
    "worker-without-database": (
        ["svc", "--type", "worker", "--database", "none", "--defaults"],
        ["database 'none' is only offered for an api"],
    ),
    "cronjob-without-database": (
        ["svc", "--type", "cronjob", "--database", "none", "--defaults"],
        ["database 'none' is only offered for an api"],
    ),
    "cronjob-on-dynamodb": (
        ["svc", "--type", "cronjob", "--database", "dynamodb", "--defaults"],
        ["database 'dynamodb' is not offered for a cronjob", "an aggregation"],
    ),
    "broker-for-an-api": (
        ["svc", "--type", "api", "--broker", "kafka", "--defaults"],
        ["broker does not apply here", "service_type == 'worker'"],
    ),
    "schedule-for-a-worker": (
        ["svc", "--type", "worker", "--data", "schedule=0 2 * * *", "--defaults"],
        ["schedule does not apply here"],
    ),
    "unknown-answer": (
        ["svc", "--data", "colour=red", "--defaults"],
        ["unknown answer 'colour'", "service_name"],
    ),
    "computed-answer": (
        ["svc", "--data", "package_name=x", "--defaults"],
        ["package_name is computed"],
    ),
    "data-not-key-value": (
        ["svc", "--data", "port", "--defaults"],
        ["--data 'port' must be KEY=VALUE"],
    ),
    "missing-answers-without-terminal": (
        ["svc"],
        # The essentials and `advanced`; the advanced settings take their defaults unasked.
        [
            "missing answers: service_type, description, owner, database, events, cache, "
            "advanced (",
            "--defaults",
        ],
    ),
    "missing-data-file": (
        ["svc", "--data-file", "nope.yml", "--defaults"],
        ["--data-file nope.yml does not exist"],
    ),
    "unknown-vcs-ref": (
        ["svc", "--vcs-ref", "v999", "--defaults"],
        ["--vcs-ref v999 is not a tag, branch or commit"],
    ),
}


class TestEveryBadAnswer:
    @pytest.mark.parametrize(("args", "fragments"), CASES.values(), ids=CASES.keys())
    def test_refused_with_one_sentence_and_disk_untouched(
        self, workdir: Path, args, fragments
    ) -> None:
        """Each invalid answer: exit 2, one sentence naming the field and what is allowed."""
        before = snapshot(workdir)
        assert_refused(run_create(workdir, *args), *fragments)
        assert snapshot(workdir) == before

    def test_data_file_that_is_not_a_mapping(self, workdir: Path) -> None:
        """--data-file must hold a YAML mapping of answers."""
        (workdir / "answers.yml").write_text("- just\n- a list\n")
        before = snapshot(workdir)
        assert_refused(
            run_create(workdir, "svc", "--data-file", "answers.yml", "--defaults"),
            "must be a YAML mapping",
        )
        assert snapshot(workdir) == before

    def test_data_file_with_a_bad_answer(self, workdir: Path) -> None:
        """Answers from a file are validated like flags."""
        (workdir / "answers.yml").write_text("port: 99999\n")
        before = snapshot(workdir)
        assert_refused(
            run_create(workdir, "svc", "--data-file", "answers.yml", "--defaults"),
            "port must be a whole number from 1 to 65535",
        )
        assert snapshot(workdir) == before


class TestOutputFolder:
    def test_existing_non_empty_output_is_refused(self, workdir: Path) -> None:
        """An output folder with anything in it is never written into."""
        (workdir / "orders").mkdir()
        (workdir / "orders" / "mine.txt").write_text("mine\n")
        before = snapshot(workdir)
        assert_refused(
            run_create(workdir, "orders", "--defaults"),
            "output folder",
            "already exists and is not empty",
        )
        assert snapshot(workdir) == before

    def test_output_that_is_a_file_is_refused(self, workdir: Path) -> None:
        """--output naming a file is refused."""
        before = snapshot(workdir)
        assert_refused(
            run_create(workdir, "svc", "--defaults", "--output", "keep.txt"),
            "exists and is not a folder",
        )
        assert snapshot(workdir) == before

    def test_output_inside_a_file_is_refused(self, workdir: Path) -> None:
        """--output below a file cannot be made: refused before anything is written."""
        before = snapshot(workdir)
        result = run_create(workdir, "svc", "--defaults", "--output", "keep.txt/svc")
        assert_refused(result, "cannot be made", "is a file, not a folder")
        assert snapshot(workdir) == before


class TestTemplateSource:
    def test_folder_that_is_not_a_git_repo(self, workdir: Path, tmp_path_factory) -> None:
        """--template of a plain folder: refused with the reason."""
        plain = tmp_path_factory.mktemp("plain")
        (plain / "copier.yml").write_text("service_type: api\n")
        before = snapshot(workdir)
        assert_refused(
            run_create(workdir, "svc", "--defaults", "--template", str(plain)),
            "--template",
            "is not a git repository",
        )
        assert snapshot(workdir) == before

    def test_git_repo_without_a_version_tag(self, workdir: Path, tmp_path_factory) -> None:
        """--template of a git repo with no PEP 440 tag cannot serve updates: refused."""
        repo = tmp_path_factory.mktemp("untagged")
        (repo / "copier.yml").write_text("service_type: api\n")
        git("init", "--quiet", cwd=repo)
        git("add", "--all", cwd=repo)
        git("commit", "--quiet", "-m", "first", cwd=repo, env=FALLBACK_IDENTITY)
        git("tag", "not-a-version", cwd=repo)
        before = snapshot(workdir)
        assert_refused(
            run_create(workdir, "svc", "--defaults", "--template", str(repo)),
            "has no version tag",
            "v1.0.0",
        )
        assert snapshot(workdir) == before

    def test_tagged_repo_without_the_questions(self, workdir: Path, tmp_path_factory) -> None:
        """A tagged copier template that is not of this layout (no service_type): refused."""
        repo = tmp_path_factory.mktemp("other-template")
        (repo / "copier.yml").write_text("project_name:\n  type: str\n  default: x\n")
        git("init", "--quiet", cwd=repo)
        git("add", "--all", cwd=repo)
        git("commit", "--quiet", "-m", "first", cwd=repo, env=FALLBACK_IDENTITY)
        git("tag", "v1.0.0", cwd=repo)
        before = snapshot(workdir)
        result = run_create(workdir, "svc", "--defaults", "--template", str(repo))
        assert_refused(result, "does not declare the question(s) service_type, service_name")
        assert snapshot(workdir) == before

    def test_missing_path(self, workdir: Path) -> None:
        """--template naming nothing: refused."""
        before = snapshot(workdir)
        assert_refused(
            run_create(workdir, "svc", "--defaults", "--template", "no/such/repo"), "does not exist"
        )
        assert snapshot(workdir) == before

    def test_unreachable_url(self, workdir: Path) -> None:
        """--template URL that git cannot read: refused with git's reason, no hang."""
        before = snapshot(workdir)
        result = run_create(workdir, "svc", "--defaults", "--template", "file:///no/such/repo.git")
        assert_refused(result, "could not be read as a git repository")
        assert snapshot(workdir) == before

    def test_url_copier_would_not_clone(self, workdir: Path) -> None:
        """A file:// URL without .git is a folder to copier, not a repo: refused with the fix."""
        before = snapshot(workdir)
        result = run_create(workdir, "svc", "--defaults", "--template", "file:///srv/templates")
        assert_refused(result, "is not a git URL that copier clones", "git+file:///srv/templates")
        assert snapshot(workdir) == before


class TestEnvironment:
    def test_without_git_on_path(self, workdir: Path) -> None:
        """No git at all: one sentence saying so, exit 2, nothing written (a real process)."""
        before = snapshot(workdir)
        env = {**os.environ, "PATH": str(workdir / "no-such-bin")}
        proc = subprocess.run(
            [sys.executable, "-m", "newservice", "create", "svc", "--defaults"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "git is not installed" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert snapshot(workdir) == before


NAMES = st.one_of(
    st.text(max_size=70),
    st.from_regex(r"[a-z][-a-z0-9]{0,8}[a-z0-9]", fullmatch=True),
    st.sampled_from(
        ["..", ".", "/", "~", "~root", "a/../../b", "-", "--help", "a" * 63, "a" * 64, "x\ny", "é"]
    ),
)


class TestFuzzedNames:
    @settings(
        max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(name=NAMES)
    def test_any_name_is_created_or_refused_without_writing_outside(
        self, tmp_path: Path, name: str
    ) -> None:
        """Whatever the name: exit 0 with exactly ./NAME made, or exit 2 with nothing written."""
        workspace = (
            tmp_path
            / f"ws-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
        )
        cwd = workspace / "cwd"
        cwd.mkdir(parents=True)
        before = snapshot(workspace)
        result = run_create(cwd, "--defaults", "--", name)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        after = snapshot(workspace)
        if result.exit_code == 0:
            assert DNS_LABEL.match(name), name
            created = {path.split(os.sep)[1] for path in after.keys() - before.keys()}
            assert created == {name}
            assert all(
                path.startswith(f"cwd{os.sep}{name}") for path in after.keys() - before.keys()
            )
        else:
            assert result.exit_code == 2, result.output
            assert after == before
            assert len(result.stderr.strip().splitlines()) == 1
