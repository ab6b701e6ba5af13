"""`newservice check`: the platform contract as a check any repo can run.

Static: every generated repo passes its own check, a hand-made repo laid out differently is
checked by kind, and each kind of drift a team might introduce (one mutation of a generated repo
per check) is caught with the file, what the contract says and what was found. Live: a generated
API started for real on PostgreSQL passes; a service that exits 1 on SIGTERM, logs plain text or
never starts is caught.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from newservice.cli import app
from typer.testing import CliRunner

from tests.support.render import render

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_check(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["check", *args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One rendered repo per type and notable cell; `defaults` takes every default answer."""
    root = tmp_path_factory.mktemp("generated")
    cells = {
        "defaults": ("api", {}),
        "api-none": ("api", {"service_name": "orders-mem", "database": "none"}),
        "worker": ("worker", {}),
        "worker-kafka": ("worker", {"broker": "kafka"}),
        "cronjob": ("cronjob", {}),
    }
    return {name: render(root / name, kind, **answers) for name, (kind, answers) in cells.items()}


class TestGeneratedReposPass:
    @pytest.mark.parametrize("cell", ["defaults", "api-none", "worker", "worker-kafka", "cronjob"])
    def test_a_generated_repo_passes_its_own_check(
        self, generated: dict[str, Path], cell: str
    ) -> None:
        code, report = run_check(str(generated[cell]))
        assert report["findings"] == []
        assert code == 0
        # Every area was looked at: an empty repo gets 3 checks, the smallest cell (a cron job,
        # no probes) 29; a type checked through fewer rules would show here.
        assert report["checks"] >= (29 if cell == "cronjob" else 28)

    def test_the_text_output_says_it_passes(self, generated: dict[str, Path]) -> None:
        result = CliRunner().invoke(app, ["check", str(generated["worker"])])
        assert result.exit_code == 0
        assert "meets the platform contract" in result.stdout


HAND_MADE_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 20
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: shop
          image: shop:1
          env: [{name: SHUTDOWN_TIMEOUT, value: "10"}]
          lifecycle: {preStop: {exec: {command: ["sh", "-c", "sleep 3"]}}}
          resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: "1", memory: 256Mi}}
          startupProbe: {httpGet: {path: /startupz, port: 8080}}
          livenessProbe: {httpGet: {path: /healthz, port: 8080}}
          readinessProbe: {httpGet: {path: /readyz, port: 8080}}
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: shop}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: shop}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: shop}
spec: {selector: {matchLabels: {app: shop}}, podMetricsEndpoints: [{port: http}]}
"""
HAND_MADE_WORKFLOW = """\
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-24.04
    permissions: {contents: read, packages: write}
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - uses: ./.github/actions/local
      - run: make
"""


class TestHandMadeRepo:
    def test_objects_are_found_by_kind_anywhere(self, tmp_path: Path) -> None:
        """No deploy/k8s: manifests in ops/shop.yml are found by kind; the drain is the
        container's SHUTDOWN_TIMEOUT (10 s) plus an exec `sleep 3` preStop, under the 20 s grace;
        a PodMonitor stands for the ServiceMonitor; `permissions: {}` is least privilege."""
        (tmp_path / "ops").mkdir()
        (tmp_path / "ops" / "shop.yml").write_text(HAND_MADE_DEPLOYMENT)
        (tmp_path / "compose.yaml").write_text("services: {db: {image: postgres}}\n")
        (tmp_path / "Dockerfile").write_text(
            "FROM python:3.12 AS build\nUSER root\nFROM python:3.12-slim\nUSER 1000:1000\n"
            'ENTRYPOINT ["python", "-m", "shop"]\n'
        )
        (tmp_path / ".github" / "workflows").mkdir(parents=True)
        (tmp_path / ".github" / "workflows" / "ci.yaml").write_text(HAND_MADE_WORKFLOW)
        code, report = run_check(str(tmp_path))
        assert report["findings"] == [] and code == 0

    def test_an_empty_repo_gets_one_finding_per_area(self, tmp_path: Path) -> None:
        code, report = run_check(str(tmp_path))
        assert code == 1
        assert {(f["file"], f["check"]) for f in report["findings"]} == {
            ("the repo's YAML files", "workload"),
            ("Dockerfile", "image"),
            (".github/workflows", "workflow"),
        }


# ------------------------------------------------------------------------ drift, one per check

Mutation = Callable[[Path], None]


def edit(relative: str, old: str, new: str, count: int = 1) -> Mutation:
    """Replace `old` by `new` in the file (the first `count` times; 0: all); `old` must occur."""

    def mutate(repo: Path) -> None:
        path = repo / relative
        text = path.read_text()
        assert old in text, f"{old!r} is not in {relative}: the template changed, fix the test"
        path.write_text(text.replace(old, new) if count == 0 else text.replace(old, new, count))

    return mutate


def remove(relative: str) -> Mutation:
    def mutate(repo: Path) -> None:
        (repo / relative).unlink()

    return mutate


DEPLOYMENT = "deploy/k8s/deployment.yaml"
WORKFLOW = ".github/workflows/ci.yml"
CHECKOUT_SHA = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
# name -> (mutation of the default api, {(file prefix, check)} expected, exactly)
DRIFT: dict[str, tuple[Mutation, set[tuple[str, str]]]] = {
    "startup probe removed": (
        edit(DEPLOYMENT, "          startupProbe:", "          startupProbeGone:"),
        {(DEPLOYMENT, "startupProbe")},
    ),
    "liveness probe on another path": (
        edit(DEPLOYMENT, "path: /healthz", "path: /health"),
        {(DEPLOYMENT, "livenessProbe")},
    ),
    "readiness probe removed": (
        edit(DEPLOYMENT, "          readinessProbe:", "          readinessGone:"),
        {(DEPLOYMENT, "readinessProbe")},
    ),
    "limits dropped": (
        edit(DEPLOYMENT, "            limits:", "            limitsGone:", count=0),
        {(DEPLOYMENT, "resources.limits")},
    ),
    "runAsNonRoot false": (
        edit(DEPLOYMENT, "runAsNonRoot: true", "runAsNonRoot: false", count=0),
        {(DEPLOYMENT, "securityContext.runAsNonRoot")},
    ),
    "writable root filesystem": (
        edit(DEPLOYMENT, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
        {(DEPLOYMENT, "securityContext.readOnlyRootFilesystem")},
    ),
    "privilege escalation allowed": (
        edit(DEPLOYMENT, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"),
        {(DEPLOYMENT, "securityContext.allowPrivilegeEscalation")},
    ),
    "capabilities kept": (
        edit(DEPLOYMENT, 'drop: ["ALL"]', 'drop: ["NET_RAW"]'),
        {(DEPLOYMENT, "securityContext.capabilities.drop")},
    ),
    "seccomp unconfined": (
        edit(DEPLOYMENT, "type: RuntimeDefault", "type: Unconfined", count=0),
        {(DEPLOYMENT, "securityContext.seccompProfile")},
    ),
    "service account token mounted": (
        edit(
            DEPLOYMENT, "automountServiceAccountToken: false", "automountServiceAccountToken: true"
        ),
        {(DEPLOYMENT, "automountServiceAccountToken")},
    ),
    "grace period too short": (
        edit(DEPLOYMENT, "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 30"),
        {(DEPLOYMENT, "terminationGracePeriodSeconds")},
    ),
    "drain raised past the grace period": (
        edit("deploy/k8s/configmap.yaml", 'SHUTDOWN_TIMEOUT: "30"', 'SHUTDOWN_TIMEOUT: "60"'),
        {(DEPLOYMENT, "terminationGracePeriodSeconds")},
    ),
    "NetworkPolicy removed": (
        remove("deploy/k8s/networkpolicy.yaml"),
        {("deploy/k8s", "objects")},
    ),
    "PodDisruptionBudget removed": (
        remove("deploy/k8s/pdb.yaml"),
        {("deploy/k8s", "objects")},
    ),
    "ServiceMonitor removed": (
        remove("deploy/k8s/servicemonitor.yaml"),
        {("deploy/k8s", "objects")},
    ),
    "USER root": (edit("Dockerfile", "USER 10001:10001", "USER root"), {("Dockerfile", "USER")}),
    "USER without a group": (
        edit("Dockerfile", "USER 10001:10001", "USER 10001"),
        {("Dockerfile", "USER")},
    ),
    "shell-form CMD": (
        edit("Dockerfile", 'CMD ["/opt/venv/bin/python", "-m", "orders"]', "CMD python -m orders"),
        {("Dockerfile", "CMD")},
    ),
    "unpinned action": (
        edit(WORKFLOW, CHECKOUT_SHA, "actions/checkout@v4"),
        {(WORKFLOW, "jobs.test uses")},
    ),
    "permissions write-all": (
        edit(WORKFLOW, "permissions:\n  contents: read\n", "permissions: write-all\n"),
        {(WORKFLOW, "permissions")},
    ),
    "contents write": (
        edit(WORKFLOW, "  contents: read\n", "  contents: write\n"),
        {(WORKFLOW, "permissions")},
    ),
    "no top-level permissions": (
        edit(WORKFLOW, "permissions:\n  contents: read\n", ""),
        {(WORKFLOW, "permissions")},
    ),
    "a job with write-all": (
        edit(
            WORKFLOW,
            "    timeout-minutes: 15\n",
            "    timeout-minutes: 15\n    permissions: write-all\n",
        ),
        {(WORKFLOW, "jobs.test.permissions")},
    ),
}


@pytest.mark.parametrize("drift", sorted(DRIFT))
def test_each_drift_is_caught(generated: dict[str, Path], tmp_path: Path, drift: str) -> None:
    """A mutated copy of the default api: exit 1, exactly the findings of that check, each
    naming the file, what the contract says and what was found."""
    mutate, expected = DRIFT[drift]
    repo = tmp_path / "repo"
    shutil.copytree(generated["defaults"], repo)
    mutate(repo)
    code, report = run_check(str(repo))
    assert code == 1
    found = {(f["file"].split(" (")[0], f["check"]) for f in report["findings"]}
    assert found == expected, report["findings"]
    for finding in report["findings"]:
        assert finding["contract"] and finding["found"]


def test_drift_in_a_cron_job_is_caught(generated: dict[str, Path], tmp_path: Path) -> None:
    """A cron job has no probes, PDB or ServiceMonitor, but its security context is held."""
    repo = tmp_path / "cron"
    shutil.copytree(generated["cronjob"], repo)
    edit(
        "deploy/k8s/cronjob.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"
    )(repo)
    code, report = run_check(str(repo))
    assert code == 1
    (finding,) = report["findings"]
    assert (
        finding["file"] == "deploy/k8s/cronjob.yaml (CronJob daily-report) init container migrate"
    )
    assert finding["check"] == "securityContext.readOnlyRootFilesystem"


def test_text_output_names_file_contract_and_finding(
    generated: dict[str, Path], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(generated["defaults"], repo)
    edit("Dockerfile", "USER 10001:10001", "USER root")(repo)
    result = CliRunner().invoke(app, ["check", str(repo)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "Dockerfile: USER: the contract says the final stage runs as a numeric non-root uid:gid "
        "(e.g. USER 10001:10001); found USER root."
    )
    assert "1 finding(s)" in result.stdout


class TestBadInput:
    def test_a_missing_path_is_2(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(app, ["check", str(tmp_path / "nope")])
        assert result.exit_code == 2
        assert result.stderr == f"error: {tmp_path / 'nope'} is not a folder.\n"

    def test_a_malformed_env_is_2(self, generated: dict[str, Path]) -> None:
        result = CliRunner().invoke(app, ["check", str(generated["defaults"]), "--live", "-e", "X"])
        assert result.exit_code == 2
        assert "--env takes KEY=VALUE; got 'X'" in result.stderr

    def test_live_on_a_cron_job_is_2(self, generated: dict[str, Path]) -> None:
        result = CliRunner().invoke(app, ["check", str(generated["cronjob"]), "--live"])
        assert result.exit_code == 2
        assert "is a cron job" in result.stderr and result.stderr.count("\n") == 1


def test_help_does_not_import_copier() -> None:
    """`check --help` and `status --help` stay light: copier is imported only to render."""
    code = (
        "import sys\n"
        "from newservice.cli import main\n"
        "for argv in (['check', '--help'], ['status', '--help']):\n"
        "    sys.argv = ['newservice', *argv]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('copier', 'rich', 'prometheus_client')\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("HEAVY []")


# ------------------------------------------------------------------------------------- live


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory):
    """The generated api on PostgreSQL with its venv (tests/api_fixtures.py)."""
    from tests.api_fixtures import api_project_for

    return api_project_for("postgresql", tmp_path_factory)


@pytest.fixture
def database_url(live_api) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database on the local server (fails under CI without it)."""
    from tests.support.services import fresh_database

    with fresh_database("check") as url:
        result = live_api.run(
            live_api.python, "-m", live_api.package, "migrate", env={"DATABASE_URL": url}
        )
        assert result.returncode == 0, result.stdout + result.stderr
        yield url


def run_live(repo: Path, python: str, *env: str) -> tuple[int, dict]:
    args = [str(repo), "--live", "--python", python, "--startup-timeout", "90"]
    # Auth off, explicitly: the contract's probes and /metrics need no token, and what auth does
    # is tested on its own (tests/test_api_auth_live.py).
    for pair in ("SHUTDOWN_TIMEOUT=10", "AUTH_ENABLED=false", *env):
        args += ["--env", pair]
    return run_check(*args)


def _live_findings(report: dict) -> set[tuple[str, str]]:
    return {(f["file"], f["check"]) for f in report["findings"]}


class TestLive:
    def test_a_generated_api_passes_live(self, live_api, database_url: str) -> None:
        """Started as its README says, on a real database: every live check passes, and they
        ran (more checks than the static ones alone)."""
        _, static = run_check(str(live_api.repo))
        code, report = run_live(live_api.repo, live_api.python, f"DATABASE_URL={database_url}")
        assert report["findings"] == [] and code == 0
        # /startupz (waited for), /healthz, /readyz, /startupz again, /metrics status and
        # parse, SIGTERM, stdout logs (some, and every line a JSON record)
        assert report["checks"] == static["checks"] + 9

    def test_exit_1_on_sigterm_is_caught(self, live_api, database_url: str, tmp_path: Path) -> None:
        repo = tmp_path / "repo"
        shutil.copytree(live_api.repo, repo)
        edit("orders/server.py", "    raise SystemExit(0)", "    raise SystemExit(1)")(repo)
        code, report = run_live(repo, live_api.python, f"DATABASE_URL={database_url}")
        assert code == 1
        assert _live_findings(report) == {("python -m orders", "SIGTERM")}
        (finding,) = report["findings"]
        assert finding["found"].startswith("status 1 after")

    def test_plain_text_logs_are_caught(self, live_api, database_url: str, tmp_path: Path) -> None:
        repo = tmp_path / "repo"
        shutil.copytree(live_api.repo, repo)
        edit(
            "orders/__main__.py",
            "        set_build_info(SERVICE_NAME, __version__)",
            '        print("starting the orders service", flush=True)\n'
            "        set_build_info(SERVICE_NAME, __version__)",
        )(repo)
        code, report = run_live(repo, live_api.python, f"DATABASE_URL={database_url}")
        assert code == 1
        assert _live_findings(report) == {("python -m orders stdout", "logs")}
        assert "starting the orders service" in report["findings"][0]["found"]

    def test_a_service_that_never_starts_is_caught(self, live_api) -> None:
        """No DATABASE_URL: the service exits 2 at once; the finding says so."""
        code, report = run_live(live_api.repo, live_api.python, "DATABASE_URL=")
        assert code == 1
        startup = [f for f in report["findings"] if f["check"] == "GET /startupz"]
        assert startup and startup[0]["found"].startswith("it exited with status 2 first")
