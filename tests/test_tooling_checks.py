"""The checkers in tests/support/checks.py accept a good repo and catch each kind of problem.

Every test starts from a small repo that passes, breaks one thing, and asserts that the checker
names it: a checker that cannot fail would turn the whole matrix green for nothing.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from tests.support import checks

LABELS = {"app.kubernetes.io/name": "orders"}

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "orders", "labels": LABELS},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": LABELS},
        "template": {
            "metadata": {"labels": LABELS},
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "orders",
                        "image": "registry.example.com/orders:1.0.0",
                        "ports": [{"containerPort": 8000, "name": "http"}],
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"cpu": "500m", "memory": "512Mi"},
                        },
                        "env": [
                            {
                                "name": "DATABASE_URL",
                                "valueFrom": {
                                    "secretKeyRef": {"name": "orders", "key": "DATABASE_URL"}
                                },
                            }
                        ],
                    }
                ],
            },
        },
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "orders", "labels": LABELS},
    "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
}
SERVICE_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "orders", "labels": LABELS},
    "spec": {
        "selector": {"matchLabels": LABELS},
        "endpoints": [{"port": "http", "path": "/metrics"}],
    },
}
SCALED_OBJECT = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "orders", "labels": LABELS},
    "spec": {
        "scaleTargetRef": {"name": "orders"},
        "minReplicaCount": 1,
        "maxReplicaCount": 10,
        "triggers": [
            {
                "type": "rabbitmq",
                "metadata": {"queueName": "orders", "mode": "QueueLength", "value": "20"},
                "authenticationRef": {"name": "orders"},
            }
        ],
    },
}
GOOD = {
    "deployment.yaml": DEPLOYMENT,
    "service.yaml": SERVICE,
    "servicemonitor.yaml": SERVICE_MONITOR,
    "scaledobject.yaml": SCALED_OBJECT,
}


def write_manifests(repo: Path, objects: dict[str, dict]) -> Path:
    base = repo / "deploy" / "k8s"
    base.mkdir(parents=True, exist_ok=True)
    for name, obj in objects.items():
        (base / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(objects),
    }
    (base / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return repo


def broken(name: str, change) -> dict[str, dict]:
    objects = copy.deepcopy(GOOD)
    change(objects[name])
    return objects


def test_good_manifests_pass(tmp_path: Path) -> None:
    checks.validate_manifests(write_manifests(tmp_path, GOOD))


def test_unknown_field_in_a_core_object_is_an_error(tmp_path: Path) -> None:
    def typo(dep: dict) -> None:
        dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"

    write_manifests(tmp_path, broken("deployment.yaml", typo))
    with pytest.raises(AssertionError) as caught:
        checks.validate_manifests(tmp_path)
    message = str(caught.value)
    assert "deploy/k8s/deployment.yaml: Deployment/orders" in message
    assert "imagePullPolicyy" in message
    # The same object is checked again after `kubectl kustomize` builds the base.
    assert "kubectl kustomize deploy/k8s: Deployment/orders" in message


def test_missing_required_field_is_an_error(tmp_path: Path) -> None:
    write_manifests(tmp_path, broken("deployment.yaml", lambda dep: dep["spec"].pop("selector")))
    with pytest.raises(AssertionError, match=r"Deployment/orders: spec: 'selector' is a required"):
        checks.validate_manifests(tmp_path)


def test_wrong_type_in_resources_is_an_error(tmp_path: Path) -> None:
    def bad_port(svc: dict) -> None:
        svc["spec"]["ports"][0]["port"] = "eighty"

    write_manifests(tmp_path, broken("service.yaml", bad_port))
    with pytest.raises(AssertionError, match=r"Service/orders: spec\.ports\.0\.port"):
        checks.validate_manifests(tmp_path)


def test_bad_scaled_object_is_an_error(tmp_path: Path) -> None:
    def bad(so: dict) -> None:
        so["spec"].pop("scaleTargetRef")
        so["spec"]["pollingIntervall"] = 30  # misspelt

    write_manifests(tmp_path, broken("scaledobject.yaml", bad))
    with pytest.raises(AssertionError) as caught:
        checks.validate_manifests(tmp_path)
    message = str(caught.value)
    assert "ScaledObject/orders: spec: 'scaleTargetRef' is a required property" in message
    assert "pollingIntervall" in message


def test_unknown_top_level_field_and_bad_metadata_of_a_custom_resource(tmp_path: Path) -> None:
    def bad(sm: dict) -> None:
        sm["specs"] = {}
        sm["metadata"]["labelz"] = {}

    write_manifests(tmp_path, broken("servicemonitor.yaml", bad))
    with pytest.raises(AssertionError) as caught:
        checks.validate_manifests(tmp_path)
    assert "ServiceMonitor/orders: (root): Additional properties" in str(caught.value)
    assert "'specs' was unexpected" in str(caught.value)
    assert "ServiceMonitor/orders: metadata.(root): Additional properties" in str(caught.value)


def test_kind_without_any_schema_is_an_error(tmp_path: Path) -> None:
    objects = copy.deepcopy(GOOD)
    objects["widget.yaml"] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "orders"},
    }
    write_manifests(tmp_path, objects)
    with pytest.raises(AssertionError, match=r"Widget/orders: no schema for example.com/v1 Widget"):
        checks.validate_manifests(tmp_path)


def test_kustomization_listing_a_missing_file_fails(tmp_path: Path) -> None:
    write_manifests(tmp_path, GOOD)
    (tmp_path / "deploy" / "k8s" / "service.yaml").unlink()
    with pytest.raises(AssertionError, match=r"kubectl kustomize deploy/k8s failed"):
        checks.validate_manifests(tmp_path)


def test_object_file_left_out_of_the_kustomization_is_an_error(tmp_path: Path) -> None:
    write_manifests(tmp_path, GOOD)
    kustomization = tmp_path / "deploy" / "k8s" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("- servicemonitor.yaml\n", ""))
    with pytest.raises(AssertionError) as caught:
        checks.validate_manifests(tmp_path)
    assert str(caught.value).splitlines()[1:] == [
        "deploy/k8s/servicemonitor.yaml: ServiceMonitor/orders: not in the kustomize build "
        "(list it in kustomization.yaml)"
    ]


def test_without_kubectl_the_build_step_is_skipped_locally_but_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_manifests(tmp_path, GOOD)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no kubectl on PATH
    monkeypatch.delenv("CI", raising=False)
    checks.validate_manifests(tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(AssertionError, match=r"kubectl is not installed, and CI is set"):
        checks.validate_manifests(tmp_path)


def test_missing_shared_schemas_fail_clearly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(checks, "CRD_SCHEMAS", tmp_path / "nowhere")
    write_manifests(tmp_path, GOOD)
    with pytest.raises(AssertionError, match=r"vendored CRD schemas missing at .*nowhere"):
        checks.validate_manifests(tmp_path)


# ---------------------------------------------------------------------------------- workflows

PINNED_WORKFLOW = """\
name: ci
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-24.04
    timeout-minutes: 15
    steps:
      - uses: actions/checkout@08eba0b27e820071cde6df949e0beb9ba4906955 # v4.3.0
        with:
          persist-credentials: false
      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0
        with:
          python-version: "3.12"
      - run: python -m pip install -e '.[dev]' && python -m pytest
"""


def write_workflow(repo: Path, text: str) -> Path:
    folder = repo / ".github" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ci.yml").write_text(text)
    return repo


def test_good_workflow_passes(tmp_path: Path) -> None:
    checks.validate_workflows(write_workflow(tmp_path, PINNED_WORKFLOW))


def test_workflow_schema_error_is_caught(tmp_path: Path) -> None:
    text = PINNED_WORKFLOW.replace("timeout-minutes: 15", "timeout-minutes: 15\n    run-on: x")
    write_workflow(tmp_path, text)
    with pytest.raises(AssertionError, match=r"workflow schema check failed"):
        checks.validate_workflows(tmp_path)


def test_unpinned_third_party_action_is_a_zizmor_finding(tmp_path: Path) -> None:
    text = PINNED_WORKFLOW + "      - uses: docker/build-push-action@v6\n"
    write_workflow(tmp_path, text)
    with pytest.raises(AssertionError, match=r"(?s)zizmor findings.*unpinned-uses"):
        checks.validate_workflows(tmp_path)


def test_repo_zizmor_config_cannot_switch_an_audit_off(tmp_path: Path) -> None:
    write_workflow(tmp_path, PINNED_WORKFLOW + "      - uses: docker/build-push-action@v6\n")
    # Honoured by plain `zizmor --offline` (the finding is "suppressed"), ignored by the check.
    config = tmp_path / ".github" / "zizmor.yml"
    config.write_text("rules:\n  unpinned-uses:\n    disable: true\n")
    with pytest.raises(AssertionError, match=r"(?s)zizmor findings.*unpinned-uses"):
        checks.validate_workflows(tmp_path)


def test_persisted_checkout_credentials_are_a_zizmor_finding(tmp_path: Path) -> None:
    text = PINNED_WORKFLOW.replace("        with:\n          persist-credentials: false\n", "", 1)
    write_workflow(tmp_path, text)
    with pytest.raises(AssertionError, match=r"(?s)zizmor findings.*artipacked"):
        checks.validate_workflows(tmp_path)


# ---------------------------------------------------------------------------------- Dockerfile

GOOD_DOCKERFILE = """\
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY server.py .
USER 10001:10001
CMD ["python3", "server.py"]
"""


def test_good_dockerfile_passes(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(GOOD_DOCKERFILE)
    checks.lint_dockerfile(tmp_path)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        # DL3025 (warning): shell-form CMD does not receive SIGTERM.
        (('CMD ["python3", "server.py"]', "CMD python3 server.py"), "DL3025"),
        # DL3045 (warning): COPY to a relative path without WORKDIR.
        (("WORKDIR /app\n", ""), "DL3045"),
    ],
)
def test_dockerfile_warning_fails(tmp_path: Path, change: tuple[str, str], rule: str) -> None:
    (tmp_path / "Dockerfile").write_text(GOOD_DOCKERFILE.replace(*change))
    with pytest.raises(AssertionError, match=rule):
        checks.lint_dockerfile(tmp_path)


def test_repo_hadolint_config_cannot_switch_a_rule_off(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(GOOD_DOCKERFILE.replace("WORKDIR /app\n", ""))
    (tmp_path / ".hadolint.yaml").write_text("ignored:\n  - DL3045\n")
    with pytest.raises(AssertionError, match="DL3045"):
        checks.lint_dockerfile(tmp_path)


# ---------------------------------------------------------------------------------- Python


def make_venv_with_host_tools(tmp_path: Path) -> Path:
    """A stand-in venv whose bin/ holds this interpreter's ruff and mypy (the real tools)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for tool in ("ruff", "mypy"):
        (venv / "bin" / tool).symlink_to(checks._tool(tool))
    return venv


PYPROJECT = """\
[project]
name = "orders"
version = "0.1.0"
[tool.mypy]
strict = true
"""


def test_lint_python_passes_and_catches_each_tool(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "orders").mkdir(parents=True)
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "orders" / "__init__.py").write_text("")
    module = repo / "orders" / "core.py"
    module.write_text("def double(x: int) -> int:\n    return x * 2\n")
    venv = make_venv_with_host_tools(tmp_path)
    checks.lint_python(repo, venv)

    module.write_text("import os\n\n\ndef double(x: int) -> int:\n    return x * 2\n")
    with pytest.raises(AssertionError, match=r"ruff check .* exit 1"):
        checks.lint_python(repo, venv)

    module.write_text("def double(x: int) -> int:\n    return x*2\n")
    with pytest.raises(AssertionError, match=r"ruff format --check"):
        checks.lint_python(repo, venv)

    module.write_text("def double(x: int) -> int:\n    return str(x)\n")
    with pytest.raises(AssertionError, match=r"(?s)mypy.*Incompatible return value"):
        checks.lint_python(repo, venv)


def test_lint_python_names_a_missing_tool(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(PYPROJECT)
    venv = make_venv_with_host_tools(tmp_path)
    (venv / "bin" / "mypy").unlink()
    with pytest.raises(AssertionError, match=r"mypy is missing"):
        checks.lint_python(repo, venv)


def test_tools_are_installed() -> None:
    for tool in ("check-jsonschema", "zizmor", "hadolint", "ruff", "mypy"):
        assert shutil.which(checks._tool(tool)), tool
