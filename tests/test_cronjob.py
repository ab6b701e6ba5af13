"""The cronjob template renders a repo whose own checks pass: its tests against the real
PostgreSQL (and MySQL: MariaDB stands in, no MySQL 8 server package exists here), ruff and mypy,
the Kubernetes schemas, the workflow schema and zizmor, hadolint; and copier refuses a bad
schedule with the reason.

MongoDB: no MongoDB server can be installed here; nx-27017 (a MongoDB wire-protocol server on
SQLite, tests/support/services.py) stands in. What the mongodb cell proves, through the real
driver: the job's commands, the aggregation pipeline, the unique `_id` claim (DuplicateKeyError),
the conditional updates of the lease and the commit, SIGTERM and concurrent runs. What it cannot
prove: a replica set (`w=majority`, failover, elections), any real server version's behaviour
(it reports none), mongod's own concurrency control (its storage is SQLite), exact error codes,
and enforcement of the `$jsonSchema` validators `migrate` sets. Two of its gaps shape the
generated code and tests: in an aggregation it matches nothing for `{$gte, $lt}` on a date in one
clause (the job writes the equivalent `$and`), and it never answers a `$sum` past 64 bits (the
generated test of a failed report uses a fractional amount instead, refused the same way)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.checks import (
    lint_dockerfile,
    lint_python,
    validate_manifests,
    validate_workflows,
)
from tests.support.render import REPO_ROOT, render
from tests.support.services import require
from tests.support.venv import run_in, venv_for

# The example with every default answer, and a cell with the longest service name allowed, another
# schedule and zone, and other resources: generated code must lint and pass for any answers.
CELLS = {
    "defaults": {},
    "custom": {
        "service_name": "quarterly-revenue-reconciliation-export-for-the-finance-team-e1",
        "schedule": "30 5 * * 1-5",
        "timezone": "Europe/Paris",
        "cpu_request": "250m",
        "memory_limit": "1Gi",
        "description": 'Reconciles "revenue" each weekday; a sentence well past one hundred '
        "characters, with quotes in it.",
    },
    "mysql": {"database": "mysql"},
    "mongodb": {"database": "mongodb"},
}


@pytest.fixture(scope="module", params=sorted(CELLS))
def answers(request: pytest.FixtureRequest) -> dict[str, str]:
    return CELLS[request.param]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, answers: dict[str, str]) -> Path:
    """The cronjob template rendered with `answers` (defaults for the rest)."""
    return render(tmp_path_factory.mktemp("cronjob") / "job", "cronjob", **answers)


@pytest.fixture(scope="module")
def venv(repo: Path) -> Path:
    return venv_for(repo)


def load_objects(repo: Path) -> dict[str, dict]:
    """Every object of the kustomize base, by kind."""
    base = repo / "deploy" / "k8s"
    objects = {}
    for name in yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]:
        for obj in yaml.safe_load_all((base / name).read_text()):
            objects[obj["kind"]] = obj
    return objects


class TestGeneratedRepo:
    def test_its_own_tests_pass_against_the_real_database(
        self, repo: Path, venv: Path, answers: dict[str, str]
    ) -> None:
        """The generated tests run (none skipped: CI is set) and pass in the repo's own venv."""
        database = answers.get("database", "")
        server = require({"mysql": "mariadb", "mongodb": "mongodb"}.get(database, "postgresql"))
        result = run_in(
            repo,
            venv,
            "python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            env={"DATABASE_URL": server, "CI": "true"},
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        summary = result.stdout.strip().splitlines()[-1]
        assert " passed" in summary and "skipped" not in summary, summary

    def test_ruff_and_mypy_pass(self, repo: Path, venv: Path) -> None:
        """ruff check, ruff format --check and mypy --strict are clean on the generated code."""
        lint_python(repo, venv)

    def test_manifests_validate_against_the_kubernetes_schemas(self, repo: Path) -> None:
        """Every object, and the kustomize build, is valid for the newest Kubernetes."""
        validate_manifests(repo)

    def test_workflow_and_dockerfile_pass_their_linters(self, repo: Path) -> None:
        """GitHub's workflow schema, zizmor (offline) and hadolint find nothing."""
        validate_workflows(repo)
        lint_dockerfile(repo)

    def test_compose_file_matches_the_compose_specification(self, repo: Path) -> None:
        """compose.yaml validates against the Compose specification's schema."""
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "check-jsonschema"),
                "--builtin-schema",
                "vendor.compose-spec",
                "compose.yaml",
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def expected(answers: dict[str, str], name: str) -> str:
    """The answer `name` of this cell, or copier.yml's default for a cronjob."""
    defaults = {
        "service_name": "daily-report",
        "schedule": "0 2 * * *",
        "timezone": "Etc/UTC",
        "cpu_request": "100m",
        "memory_request": "128Mi",
        "cpu_limit": "500m",
        "memory_limit": "512Mi",
    }
    return answers.get(name, defaults[name])


class TestCronJobManifest:
    def test_the_cronjob_follows_the_platform_contract(
        self, repo: Path, answers: dict[str, str]
    ) -> None:
        """Schedule and zone from the answers, Forbid, deadlines, retries, no probes, hardened."""
        objects = load_objects(repo)
        assert set(objects) == {"CronJob", "ServiceAccount", "NetworkPolicy", "ConfigMap"}
        cron = objects["CronJob"]["spec"]
        assert cron["schedule"] == expected(answers, "schedule")
        assert cron["timeZone"] == expected(answers, "timezone")
        assert cron["concurrencyPolicy"] == "Forbid"
        assert cron["startingDeadlineSeconds"] > 0
        assert cron["successfulJobsHistoryLimit"] >= 1 and cron["failedJobsHistoryLimit"] >= 1
        job = cron["jobTemplate"]["spec"]
        assert job["backoffLimit"] >= 1 and job["activeDeadlineSeconds"] > 0
        pod = job["template"]["spec"]
        assert pod["restartPolicy"] == "OnFailure"
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        name = expected(answers, "service_name")
        for container in pod["containers"] + pod["initContainers"]:
            assert not {"livenessProbe", "readinessProbe", "startupProbe"} & container.keys()
            assert container["resources"] == {
                "requests": {
                    "cpu": expected(answers, "cpu_request"),
                    "memory": expected(answers, "memory_request"),
                },
                "limits": {
                    "cpu": expected(answers, "cpu_limit"),
                    "memory": expected(answers, "memory_limit"),
                },
            }
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            database = next(e for e in container["env"] if e["name"] == "DATABASE_URL")
            assert database["valueFrom"]["secretKeyRef"] == {"name": name, "key": "DATABASE_URL"}
        assert pod["initContainers"][0]["command"][-1] == "migrate"

    def test_the_job_reads_the_same_schedule_as_the_cronjob(
        self, repo: Path, answers: dict[str, str]
    ) -> None:
        """The ConfigMap and the settings' defaults carry the CronJob's schedule and zone."""
        config = load_objects(repo)["ConfigMap"]["data"]
        assert config["SCHEDULE"] == expected(answers, "schedule")
        assert config["TIMEZONE"] == expected(answers, "timezone")
        package = expected(answers, "service_name").replace("-", "_")
        settings = (repo / package / "settings.py").read_text()
        assert f'default="{expected(answers, "schedule")}"' in settings
        assert f'default="{expected(answers, "timezone")}"' in settings


def test_copier_refuses_a_bad_schedule_with_the_reason(tmp_path: Path) -> None:
    """Plain copier (no newservice) stops at the validator, names the field, writes nothing."""
    from copier import run_copy

    dest = tmp_path / "out"
    with pytest.raises(
        ValueError,
        match=r"schedule '61 2 \* \* \*' is not a valid cron expression: bad minute field '61'",
    ):
        run_copy(
            str(REPO_ROOT),
            str(dest),
            vcs_ref="HEAD",
            defaults=True,
            quiet=True,
            data={"service_type": "cronjob", "schedule": "61 2 * * *"},
        )
    assert not dest.exists()
