"""The API template, per database: the generated repo passes its own checks.

For `postgresql`, `mysql`, `mongodb`, `dynamodb` and `none`: the repo's own tests pass in a fresh
venv against the real database or its stand-in (with CI set, so that none of them can skip), ruff
and mypy pass, the manifests validate against the Kubernetes schemas, the workflow against
GitHub's schema and zizmor, the Dockerfile hadolint. MySQL runs on the MariaDB 10.11 server of
these machines: no MySQL 8 server package exists here (the generated CI uses a MySQL 8.4
container), so what only MySQL 8 would reject is not proven here; the service keeps to SQL both
accept. MongoDB runs on nx-27017 (a wire-protocol server on SQLite), which does not enforce the
collection's validator (the generated tests check the commands migrate sends instead) and is not
a replica set; the generated CI runs MongoDB 8.0. DynamoDB runs on dynalite, as strict as AWS in
validating requests, without AWS's throughput limits or eventually consistent indexes; the
generated CI runs DynamoDB Local.
"""

from __future__ import annotations

import tomllib

import pytest
import yaml

from tests.api_fixtures import (  # noqa: F401  (the *_fixture names are pytest fixtures)
    CELLS,
    ApiProject,
    api_project_for,
    database_environment,
    dynamodb_endpoint_fixture,
)
from tests.support.checks import (
    lint_dockerfile,
    lint_python,
    validate_manifests,
    validate_workflows,
)

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module", params=sorted(CELLS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ApiProject:
    return api_project_for(request.param, tmp_path_factory)


class TestGeneratedRepo:
    def test_its_own_tests_pass_against_the_real_database(
        self, project: ApiProject, request: pytest.FixtureRequest
    ) -> None:
        """`pytest` in the generated repo, CI set: a missing database would fail, not skip
        (`mysql` on MariaDB, `mongodb` on nx-27017, `dynamodb` on dynalite)."""
        result = project.run(
            project.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            env={**database_environment(project, request), "CI": "true"},
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        summary = result.stdout.strip().splitlines()[-1]
        assert "passed" in summary, summary
        assert "skipped" not in summary and "failed" not in summary, summary

    def test_ruff_and_mypy_pass(self, project: ApiProject) -> None:
        lint_python(project.repo, project.venv)

    def test_manifests_validate(self, project: ApiProject) -> None:
        validate_manifests(project.repo)

    def test_workflow_validates(self, project: ApiProject) -> None:
        validate_workflows(project.repo)

    def test_dockerfile_passes_hadolint(self, project: ApiProject) -> None:
        lint_dockerfile(project.repo)


class TestStructure:
    def test_only_the_chosen_database_is_rendered(self, project: ApiProject) -> None:
        """The database is a swapped module, not conditionals in shared code."""
        storage = project.repo / project.package / "storage"
        modules = {p.name for p in storage.glob("*.py")}
        stores = {"postgresql.py", "mysql.py", "mongodb.py", "dynamodb.py", "memory.py"}
        deps = tomllib.loads((project.repo / "pyproject.toml").read_text())["project"]
        sql = [d for d in deps["dependencies"] if "sqlalchemy" in d or "asyncpg" in d]
        if project.database in ("postgresql", "mysql"):
            assert {f"{project.database}.py", "tables.py", "urls.py"} <= modules
            assert not (stores - {f"{project.database}.py"}) & modules
            assert (project.repo / project.package / "migrations" / "env.py").is_file()
        elif project.database in ("mongodb", "dynamodb"):
            assert modules & stores == {f"{project.database}.py"}
            assert "urls.py" in modules
            assert "tables.py" not in modules
            assert not (project.repo / project.package / "migrations").exists()
            assert not sql
        else:
            assert "memory.py" in modules
            assert not {"postgresql.py", "mysql.py", "tables.py", "urls.py"} & modules
            assert not (project.repo / project.package / "migrations").exists()
            assert not sql

    def test_the_database_port_compose_and_ci_service_match_the_database(
        self, project: ApiProject
    ) -> None:
        """NetworkPolicy egress opens the database's port (besides DNS, OTLP and the issuer's
        JWKS on 443); compose and CI run that database."""
        k8s = project.repo / "deploy" / "k8s"
        policy = yaml.safe_load((k8s / "networkpolicy.yaml").read_text())
        ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        expected = {
            "postgresql": {5432},
            "mysql": {3306},
            "mongodb": {27017},
            "dynamodb": set(),  # DynamoDB is reached over HTTPS, like the JWKS below
            "none": set(),
        }[project.database]
        assert ports - {53, 4318, 443} == expected
        assert 443 in ports, "auth is on: the pods must reach the issuer's JWKS (and DynamoDB)"
        compose = yaml.safe_load((project.repo / "compose.yaml").read_text())["services"]
        ci = yaml.safe_load((project.repo / ".github" / "workflows" / "ci.yml").read_text())
        test_job = ci["jobs"]["test"]
        if project.database == "none":
            assert "services" not in test_job
            return
        name = {"postgresql": "postgres", "mysql": "mysql", "mongodb": "mongo"}.get(
            project.database, project.database
        )
        assert name in compose and name in test_job["services"]
        assert compose["migrate"]["command"][-1] == "migrate"
        if project.database == "dynamodb":
            local = "AWS_ENDPOINT_URL_DYNAMODB"
            assert test_job["env"][local] == "http://127.0.0.1:8000"
            assert compose["migrate"]["environment"][local] == "http://dynamodb:8000"
            assert compose["migrate"]["environment"]["DYNAMODB_CREATE_TABLE"] == "true"
            service = compose[CELLS["dynamodb"]["service_name"]]["environment"]
            assert service["DYNAMODB_TABLE"] == CELLS["dynamodb"]["service_name"]
            return
        assert test_job["env"]["DATABASE_URL"].startswith(f"{project.database}://")

    def test_deployment_meets_the_platform_contract(self, project: ApiProject) -> None:
        """Probes, resources, grace period above drain + preStop, restricted security."""
        deployment = yaml.safe_load(
            (project.repo / "deploy" / "k8s" / "deployment.yaml").read_text()
        )
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert {
            probe: container[probe]["httpGet"]["path"]
            for probe in ("livenessProbe", "readinessProbe", "startupProbe")
        } == {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/startupz"}
        assert container["resources"] == {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        }
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > 30 + pre_stop
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        assert pod["topologySpreadConstraints"]
        env = {
            e["name"]: e
            for c in [container, *pod.get("initContainers", [])]
            for e in c.get("env", [])
        }
        if project.database != "none":
            assert pod["initContainers"][0]["command"][-1] == "migrate"
        if project.database == "dynamodb":
            # By table name from the ConfigMap, checked (not created) by migrate; no URL.
            config = yaml.safe_load(
                (project.repo / "deploy" / "k8s" / "configmap.yaml").read_text()
            )
            assert config["data"]["DYNAMODB_TABLE"] == CELLS["dynamodb"]["service_name"]
            assert config["data"]["DYNAMODB_CREATE_TABLE"] == "false"
            assert "DATABASE_URL" not in env
        elif project.database != "none":
            assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "DATABASE_URL"
        # Values written in the manifest are no secrets: only the AWS region (the SDK signs for it).
        written = {name for name, e in env.items() if "value" in e}
        assert written <= {"AWS_DEFAULT_REGION"}, "secrets only from a Secret"


class TestAnswers:
    def test_non_default_answers_reach_code_manifests_and_ci(
        self, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """port, replicas, resources, shutdown and request timeouts, registry and Python version
        are used."""
        from tests.support.render import render

        answers = {
            "service_name": "billing-api",
            "database": "none",
            "port": 9000,
            "replicas": 2,
            "cpu_request": "250m",
            "memory_request": "256Mi",
            "cpu_limit": "1",
            "memory_limit": "1Gi",
            "shutdown_timeout": 45,
            "request_timeout": 1.5,
            "image_registry": "registry.example.com/team",
        }
        repo = render(tmp_path_factory.mktemp("api-answers") / "repo", "api", **answers)
        k8s = repo / "deploy" / "k8s"
        deployment = yaml.safe_load((k8s / "deployment.yaml").read_text())
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert deployment["spec"]["replicas"] == 2
        assert container["ports"][0]["containerPort"] == 9000
        assert container["image"].startswith("registry.example.com/team/billing-api:")
        assert container["resources"] == {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        }
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > 45 + pre_stop
        assert yaml.safe_load((k8s / "hpa.yaml").read_text())["spec"]["minReplicas"] == 2
        config = yaml.safe_load((k8s / "configmap.yaml").read_text())["data"]
        assert (config["PORT"], config["SHUTDOWN_TIMEOUT"]) == ("9000", "45")
        assert config["REQUEST_TIMEOUT"] == "1.5"
        settings = (repo / "billing_api" / "settings.py").read_text()
        assert "default=9000" in settings
        assert "default=45" in settings
        assert "REQUEST_TIMEOUT: float = Field(default=1.5," in settings
        assert "EXPOSE 9000" in (repo / "Dockerfile").read_text()
        validate_manifests(repo)
