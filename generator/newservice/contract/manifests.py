"""The contract in a repo's Kubernetes manifests: probes, resources, security, shutdown, objects.

Manifests are read from deploy/k8s/ when it exists (the generated layout), otherwise from every
YAML file in the repo; the workloads are found by kind (Deployment, StatefulSet: long-running;
CronJob: runs to completion, so no probes, PodDisruptionBudget or ServiceMonitor). Plain YAML only:
a kustomize overlay's patches are not applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .findings import Report

LONG_RUNNING = ("Deployment", "StatefulSet")
PROBES = (
    ("startupProbe", "/startupz"),
    ("livenessProbe", "/healthz"),
    ("readinessProbe", "/readyz"),
)
DEFAULT_DRAIN = 30  # SHUTDOWN_TIMEOUT's default in the contract
DEFAULT_GRACE = 30  # Kubernetes' default terminationGracePeriodSeconds
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", ".tox", ".cache", "__pycache__"}


@dataclass(frozen=True)
class Manifest:
    file: str  # relative to the repo
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.doc.get("metadata") or {}).get("name", "?"))


def load_manifests(repo: Path) -> list[Manifest]:
    """Every Kubernetes object (a mapping with apiVersion and kind) in the repo's manifests."""
    import yaml

    folder = repo / "deploy" / "k8s"
    root = folder if folder.is_dir() else repo
    found = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")):
        if _SKIP_DIRS & set(path.relative_to(repo).parts) or not path.is_file():
            continue
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue  # not plain YAML (a template, a tagged mkdocs.yml): not a manifest
        for doc in docs:
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                found.append(Manifest(path.relative_to(repo).as_posix(), doc))
    return found


def shutdown_timeout(manifests: list[Manifest]) -> int | None:
    """SHUTDOWN_TIMEOUT as the manifests set it (a ConfigMap's data or a container's env)."""
    for manifest in manifests:
        if manifest.kind == "ConfigMap":
            value = (manifest.doc.get("data") or {}).get("SHUTDOWN_TIMEOUT")
            if value is not None and str(value).strip().isdigit():
                return int(str(value).strip())
    for manifest in manifests:
        for container in _containers(_pod_spec(manifest) or {}):
            for env in container.get("env") or []:
                if env.get("name") == "SHUTDOWN_TIMEOUT" and str(env.get("value", "")).isdigit():
                    return int(env["value"])
    return None


def check_manifests(repo: Path, report: Report) -> None:
    manifests = load_manifests(repo)
    workloads = [m for m in manifests if m.kind in (*LONG_RUNNING, "CronJob")]
    where = "deploy/k8s" if (repo / "deploy" / "k8s").is_dir() else "the repo's YAML files"
    if not report.expect(
        bool(workloads), where, "workload", "a Deployment or CronJob manifest", "none"
    ):
        return
    drain = shutdown_timeout(manifests)
    for workload in workloads:
        _check_workload(workload, drain, report)
    kinds = {m.kind for m in manifests}
    if any(w.kind in LONG_RUNNING for w in workloads):
        for kind, alternatives in (
            ("ServiceMonitor", {"ServiceMonitor", "PodMonitor"}),
            ("PodDisruptionBudget", {"PodDisruptionBudget"}),
        ):
            report.expect(bool(kinds & alternatives), where, "objects", f"a {kind}", "none")
    report.expect("NetworkPolicy" in kinds, where, "objects", "a NetworkPolicy", "none")


def _check_workload(workload: Manifest, drain: int | None, report: Report) -> None:
    spec = _pod_spec(workload)
    label = f"{workload.file} ({workload.kind} {workload.name})"
    if spec is None:
        report.expect(False, label, "pod template", "a pod template with containers", "none")
        return
    long_running = workload.kind in LONG_RUNNING
    report.expect(
        spec.get("automountServiceAccountToken") is False,
        label,
        "automountServiceAccountToken",
        "false (no token unless needed)",
        repr(spec.get("automountServiceAccountToken", "unset")),
    )
    pod_security = spec.get("securityContext") or {}
    for container in spec.get("containers") or []:
        where = f"{label} container {container.get('name', '?')}"
        if long_running:
            _check_probes(container, where, report)
        _check_resources(container, where, report)
        _check_security(container.get("securityContext") or {}, pod_security, where, report)
    for container in spec.get("initContainers") or []:
        where = f"{label} init container {container.get('name', '?')}"
        _check_resources(container, where, report)
        _check_security(container.get("securityContext") or {}, pod_security, where, report)
    if long_running or drain is not None:
        _check_grace(spec, drain if drain is not None else DEFAULT_DRAIN, label, report)


def _check_probes(container: dict[str, Any], where: str, report: Report) -> None:
    for probe, path in PROBES:
        found = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
        report.expect(
            found == path,
            where,
            probe,
            f"an HTTP GET of {path}",
            f"path {found}" if found else ("no HTTP probe" if container.get(probe) else "none"),
        )


def _check_resources(container: dict[str, Any], where: str, report: Report) -> None:
    resources = container.get("resources") or {}
    for section in ("requests", "limits"):
        given = resources.get(section) or {}
        missing = [name for name in ("cpu", "memory") if name not in given]
        report.expect(
            not missing,
            where,
            f"resources.{section}",
            f"{section} for cpu and memory",
            f"no {section} for {' and '.join(missing)}" if missing else "",
        )


def _check_security(own: dict[str, Any], pod: dict[str, Any], where: str, report: Report) -> None:
    def value(key: str) -> Any:
        return own[key] if key in own else pod.get(key)

    for key, wanted in (
        ("runAsNonRoot", True),
        ("readOnlyRootFilesystem", True),
        ("allowPrivilegeEscalation", False),
    ):
        found = own.get(key) if key != "runAsNonRoot" else value(key)
        report.expect(
            found is wanted,
            where,
            f"securityContext.{key}",
            str(wanted).lower(),
            "unset" if found is None else str(found).lower(),
        )
    dropped = ((own.get("capabilities") or {}).get("drop")) or []
    report.expect(
        "ALL" in dropped,
        where,
        "securityContext.capabilities.drop",
        "ALL",
        str(dropped) if dropped else "nothing dropped",
    )
    seccomp = (value("seccompProfile") or {}).get("type")
    report.expect(
        seccomp == "RuntimeDefault",
        where,
        "securityContext.seccompProfile",
        "type RuntimeDefault",
        str(seccomp or "unset"),
    )


def _check_grace(spec: dict[str, Any], drain: int, label: str, report: Report) -> None:
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    pre_stop = max((_pre_stop_seconds(c) for c in spec.get("containers") or []), default=0)
    report.expect(
        isinstance(grace, int) and grace > drain + pre_stop,
        label,
        "terminationGracePeriodSeconds",
        f"more than the drain time (SHUTDOWN_TIMEOUT {drain} s) plus the preStop delay "
        f"({pre_stop} s), i.e. > {drain + pre_stop}",
        str(grace),
    )


def _pre_stop_seconds(container: dict[str, Any]) -> int:
    pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
    seconds = (pre_stop.get("sleep") or {}).get("seconds")
    if isinstance(seconds, int):
        return seconds
    command = " ".join(str(part) for part in (pre_stop.get("exec") or {}).get("command") or [])
    match = re.search(r"\bsleep\s+(\d+)", command)
    return int(match.group(1)) if match else 0


def _pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    spec = manifest.doc.get("spec") or {}
    if manifest.kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = (spec.get("template") or {}).get("spec")
    return template if isinstance(template, dict) else None


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
