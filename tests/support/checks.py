"""The checks a generated repo's users run, as functions the matrix tests call.

Each check raises AssertionError listing every problem it found (not just the first), so one
failing test run shows the whole list. The tools are the real ones: kubernetes-validate's strict
Kubernetes schemas, the vendored CRD schemas in ../shared/schemas, `kubectl kustomize`,
check-jsonschema's vendored GitHub workflow schema, zizmor, hadolint, ruff and mypy.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from .mypy_cache import SeededCache
from .render import REPO_ROOT
from .venv import run_in

# CI puts a copy of shared/ beside the clone, exactly as on the development machines.
SHARED = REPO_ROOT.parent / "shared"
CRD_SCHEMAS = SHARED / "schemas" / "crds"

# The newest Kubernetes version whose schemas the installed kubernetes-validate ships: a cluster
# a new service deploys to is recent, and removed APIs must fail here as they would there.
KUBERNETES_VERSION = kv.latest_version()

KUSTOMIZATION_FILES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
# Fields every object may carry at the top level besides what its schema lists.
_OBJECT_FIELDS = {"apiVersion", "kind", "metadata"}


def _tool(name: str) -> str:
    """Path of a console script installed with the test extra (next to this interpreter first)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} is not installed: `pip install -e '.[test]'` provides it")
    return found


# ---------------------------------------------------------------------------------- manifests


@functools.cache
def _kubernetes_validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    """Strict validator for a core kind (unknown fields are errors), or None if none shipped."""
    folder = f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict"
    # kubernetes-validate's file naming: apps/v1 -> apps-v1, rbac.authorization.k8s.io/v1 -> rbac-v1
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(f"{folder}/{kind.lower()}-{api}.json", KUBERNETES_VERSION)
    except FileNotFoundError:
        return None
    definitions = kv.schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSION)
    registry: Registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def _crd_validator(group: str, kind: str, version: str) -> jsonschema.protocols.Validator | None:
    path = CRD_SCHEMAS / group / f"{kind.lower()}_{version}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    # The API server rejects unknown top-level fields of a custom resource too (strict field
    # validation); the catalog's schemas leave the root open, so close it here.
    schema = {**schema, "additionalProperties": False}
    schema["properties"] = {f: {} for f in _OBJECT_FIELDS} | schema.get("properties", {})
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def _errors(validator: jsonschema.protocols.Validator, obj: Any) -> Iterator[str]:
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path))):
        where = ".".join(str(p) for p in error.absolute_path) or "(root)"
        yield f"{where}: {error.message}"


def _object_problems(obj: Any) -> Iterator[str]:
    """Every schema problem of one manifest object (core kind or custom resource)."""
    if not isinstance(obj, dict) or not obj.get("kind") or not obj.get("apiVersion"):
        yield "not a Kubernetes object (needs apiVersion and kind)"
        return
    kind, api_version = str(obj["kind"]), str(obj["apiVersion"])
    group, _, version = api_version.rpartition("/")
    if group and (CRD_SCHEMAS / group).is_dir():
        validator = _crd_validator(group, kind, version)
        if validator is None:
            yield f"no vendored schema for {api_version} {kind} in {CRD_SCHEMAS / group}"
            return
        yield from _errors(validator, obj)
        meta = _kubernetes_validator("ObjectMeta", "meta/v1")
        if meta is not None and "metadata" in obj:
            yield from (f"metadata.{e}" for e in _errors(meta, obj["metadata"]))
        return
    validator = _kubernetes_validator(kind, api_version)
    if validator is None:
        yield (
            f"no schema for {api_version} {kind}: not a Kubernetes {KUBERNETES_VERSION} kind, "
            f"and no vendored CRD schema in {CRD_SCHEMAS}"
        )
        return
    yield from _errors(validator, obj)


def _label(obj: Any) -> str:
    if isinstance(obj, dict):
        name = (obj.get("metadata") or {}).get("name", "?")
        return f"{obj.get('kind', '?')}/{name}"
    return "?"


def _load(source: str, text: str, problems: list[str]) -> list[Any]:
    """The objects of one YAML stream, each checked; problems are appended to `problems`."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        problems.append(f"{source}: invalid YAML: {exc}")
        return []
    for obj in documents:
        problems += (f"{source}: {_label(obj)}: {p}" for p in _object_problems(obj))
    return documents


def manifest_problems(repo: Path, folder: str = "deploy/k8s") -> list[str]:
    """All problems of repo/`folder`, files and `kubectl kustomize` output (empty: valid)."""
    base = repo / folder
    if not base.is_dir():
        return [f"{base}: no such folder"]
    if not CRD_SCHEMAS.is_dir():
        raise AssertionError(
            f"vendored CRD schemas missing at {CRD_SCHEMAS}: shared/ must sit beside the repo "
            f"({REPO_ROOT.parent}), as CI places it"
        )
    problems: list[str] = []
    in_files: dict[str, str] = {}  # "Kind/name" -> file
    files = sorted(p for p in base.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
    for path in files:
        if path.name in KUSTOMIZATION_FILES:
            continue
        source = str(path.relative_to(repo))
        in_files |= {_label(obj): source for obj in _load(source, path.read_text(), problems)}
    if not in_files:
        problems.append(f"{base}: no manifests")
    kubectl = shutil.which("kubectl")
    if kubectl is None and os.environ.get("CI"):
        # As with the services: a missing tool may skip a step locally, never quietly in CI.
        problems.append("kubectl is not installed, and CI is set: `kubectl kustomize` must run")
    if kubectl is not None:
        built = subprocess.run(
            [kubectl, "kustomize", str(base)], capture_output=True, text=True, timeout=120
        )
        if built.returncode != 0:
            problems.append(f"kubectl kustomize {folder} failed: {built.stderr.strip()}")
        else:
            output = _load(f"kubectl kustomize {folder}", built.stdout, problems)
            # An object file the kustomization does not list never reaches the cluster.
            problems += (
                f"{source}: {label}: not in the kustomize build (list it in kustomization.yaml)"
                for label, source in in_files.items()
                if label not in {_label(obj) for obj in output}
            )
    return problems


def validate_manifests(repo: Path, folder: str = "deploy/k8s") -> None:
    """Every object under repo/`folder` (and the kustomize build) is schema-valid, strictly."""
    problems = manifest_problems(repo, folder)
    assert not problems, "invalid manifests:\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------- workflows


def _run(cmd: Iterable[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=300)


def validate_workflows(repo: Path) -> None:
    """Every .github/workflows/*.yml matches GitHub's schema and has no zizmor finding (offline)."""
    folder = repo / ".github" / "workflows"
    workflows = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    assert workflows, f"no workflows in {folder}"
    names = [str(w.relative_to(repo)) for w in workflows]
    schema = _run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *names], repo
    )
    assert schema.returncode == 0, f"workflow schema check failed:\n{schema.stdout}{schema.stderr}"
    # --offline: no network and no GitHub token needed (online audits are skipped). --no-config:
    # a repo's zizmor.yml cannot silence findings; reviewable inline ignore comments still count.
    audit = _run(
        [
            _tool("zizmor"),
            "--offline",
            "--no-config",
            "--strict-collection",
            "--no-progress",
            "--color=never",
            "--format=plain",
            *names,
        ],
        repo,
    )
    assert audit.returncode == 0, (
        f"zizmor findings (exit {audit.returncode}):\n{audit.stdout}{audit.stderr}"
    )


# ---------------------------------------------------------------------------------- Dockerfile


def lint_dockerfile(repo: Path) -> None:
    """hadolint on repo/Dockerfile: any warning or error fails."""
    dockerfile = repo / "Dockerfile"
    assert dockerfile.is_file(), f"{dockerfile}: no such file"
    # An empty config in place of the repo's .hadolint.yaml: a rule cannot be switched off for
    # the whole repo; reviewable inline `# hadolint ignore=` comments still count.
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as config:
        config.write("{}\n")
        config.flush()
        result = _run(
            [
                _tool("hadolint"), "--config", config.name, "--no-color",
                "--failure-threshold", "warning", "Dockerfile",
            ],
            repo,
        )  # fmt: skip
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


# ---------------------------------------------------------------------------------- Python


def lint_python(repo: Path, venv: Path) -> None:
    """ruff check, ruff format --check and mypy pass in `repo`, with the tools of `venv`."""
    bin_dir = venv / "bin"
    mypy_conf = tomllib.loads((repo / "pyproject.toml").read_text()).get("tool", {}).get("mypy", {})
    # mypy with no target reads `files` from the repo's config; otherwise check the whole repo.
    mypy_target = [] if mypy_conf.get("files") else ["."]
    failures = []
    with SeededCache(venv, _service_type(repo)) as mypy_cache:
        for cmd in (
            [str(bin_dir / "ruff"), "check", "--no-cache", "."],
            [str(bin_dir / "ruff"), "format", "--check", "--no-cache", "."],
            [str(bin_dir / "mypy"), *mypy_target],
        ):
            if not Path(cmd[0]).exists():
                failures.append(f"{cmd[0]} is missing: the repo's dev extra must provide it")
                continue
            result = run_in(repo, venv, *cmd, env=mypy_cache.env)
            if result.returncode != 0:
                shown = " ".join([Path(cmd[0]).name, *cmd[1:]])
                failures.append(
                    f"$ {shown} -> exit {result.returncode}\n{result.stdout}{result.stderr}"
                )
        if not failures:
            mypy_cache.keep()
    assert not failures, f"lint failed in {repo}:\n" + "\n".join(failures)


def _service_type(repo: Path) -> str:
    """api, worker or cronjob from the repo's copier answers ("other" without them)."""
    answers = repo / ".copier-answers.yml"
    if not answers.is_file():
        return "other"
    return str((yaml.safe_load(answers.read_text()) or {}).get("service_type", "other"))
