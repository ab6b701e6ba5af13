"""deploy/platform: what the platform provisions for a service, from the same answers as its code.

Every object validates strictly against the Kubernetes schemas and the vendored CRD schemas
(../shared/schemas) and `kubectl kustomize` builds the folder; the alerts pass `promtool check
rules` (Prometheus' own parser and validator). The values trace to the answers, and the Secret the
service's manifests read (name and keys) is exactly the one the ExternalSecret writes, pointing at
the database and broker declared beside it. No cluster with the operators runs here, so what the
operators do with these objects (failover, backups, rotation) is not exercised: the README says
what each one provides.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.checks import validate_manifests
from tests.support.render import render

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "api-postgresql": ("api", {}),
    "api-none": ("api", {"database": "none"}),
    "api-mysql": ("api", {"database": "mysql"}),
    "cronjob-postgresql": ("cronjob", {}),
    **{
        f"worker-{broker}": ("worker", {"broker": broker})
        for broker in ("rabbitmq", "kafka", "nats", "sqs", "redis")
    },
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Render each case once per module, on first use."""
    cache: dict[str, Path] = {}

    def get(case: str) -> Path:
        if case not in cache:
            service_type, answers = CASES[case]
            cache[case] = render(tmp_path_factory.mktemp(case) / "svc", service_type, **answers)
        return cache[case]

    return get


@pytest.fixture(params=list(CASES))
def repo(request: pytest.FixtureRequest, rendered: Any) -> Path:
    return rendered(request.param)


def objects(folder: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def of_kind(folder: Path, kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects(folder) if obj["kind"] == kind]


def answers_of(repo: Path) -> dict[str, Any]:
    return yaml.safe_load((repo / ".copier-answers.yml").read_text())


def secrets_read(repo: Path) -> set[tuple[str, str]]:
    """(Secret, key) of every secretKeyRef of the service's own workload manifests."""
    found = set()
    for obj in objects(repo / "deploy" / "k8s"):
        text = yaml.safe_dump(obj)
        for ref in re.finditer(r"secretKeyRef:\n\s+key: (\S+)\n\s+name: (\S+)", text):
            found.add((ref[2].strip("'\""), ref[1].strip("'\"")))
    return found


def secrets_written(repo: Path) -> dict[str, set[str]]:
    """Secret name -> keys, for every ExternalSecret in deploy/platform."""
    written = {}
    for ext in of_kind(repo / "deploy" / "platform", "ExternalSecret"):
        target = ext["spec"]["target"]
        if "template" in target:
            written[target["name"]] = set(target["template"]["data"])
        else:  # without a template, the fetched values are the keys
            written[target["name"]] = {item["secretKey"] for item in ext["spec"]["data"]}
    return written


def service_secret_urls(repo: Path) -> dict[str, str]:
    name = answers_of(repo)["service_name"]
    for ext in of_kind(repo / "deploy" / "platform", "ExternalSecret"):
        if ext["spec"]["target"]["name"] == name:
            return dict(ext["spec"]["target"]["template"]["data"])
    return {}


def test_every_object_validates_and_the_folder_builds(repo: Path) -> None:
    validate_manifests(repo, "deploy/platform")


def test_the_alerts_pass_promtool(repo: Path, tmp_path: Path) -> None:
    """Each PromQL expression parses and each rule is well formed, as Prometheus loads it."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (.ci/install.sh installs prometheus)"
    (rule,) = of_kind(repo / "deploy" / "platform", "PrometheusRule")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = [group["name"] for group in rule["spec"]["groups"]]
    answers = answers_of(repo)
    expected = [f"{answers['service_name']}.{answers['service_type']}"]
    expected += [f"{answers['service_name']}.database"] if answers["database"] != "none" else []
    expected += [f"{answers['service_name']}.broker"] if "broker" in answers else []
    assert names == expected


def test_the_secret_the_service_reads_is_the_one_the_platform_writes(repo: Path) -> None:
    """Every (Secret, key) the Deployment or CronJob reads is written by an ExternalSecret, and
    the service's Secret holds no key nobody reads; Reloader watches exactly that Secret."""
    read = secrets_read(repo)
    written = secrets_written(repo)
    name = answers_of(repo)["service_name"]
    assert {(secret, key) for secret, key in read} <= {
        (secret, key) for secret, keys in written.items() for key in keys
    }
    assert {key for secret, key in read if secret == name} == written.get(name, set())
    for workload in of_kind(repo / "deploy" / "k8s", "Deployment"):
        annotations = workload["metadata"].get("annotations", {})
        watched = annotations.get("secret.reloader.stakater.com/reload")
        assert watched == (name if read else None)


def test_templates_use_only_the_values_they_fetch(repo: Path) -> None:
    """An external-secrets template naming a value its `data` does not fetch renders empty."""
    for ext in of_kind(repo / "deploy" / "platform", "ExternalSecret"):
        if "template" not in ext["spec"]["target"]:
            continue  # the fetched values are written as they are
        fetched = {item["secretKey"] for item in ext["spec"].get("data", [])}
        used = set(re.findall(r"\{\{\s*\.(\w+)", yaml.safe_dump(ext["spec"]["target"])))
        assert used == fetched, ext["metadata"]["name"]


def test_the_urls_point_at_what_is_provisioned(repo: Path) -> None:
    platform = repo / "deploy" / "platform"
    urls = service_secret_urls(repo)
    answers = answers_of(repo)
    if answers["database"] == "postgresql":
        database = urlsplit(urls["DATABASE_URL"])
        (pooler,) = of_kind(platform, "Pooler")
        (cluster,) = of_kind(platform, "Cluster")
        initdb = cluster["spec"]["bootstrap"]["initdb"]
        assert (database.scheme, database.hostname, database.port) == (
            "postgresql",
            pooler["metadata"]["name"],
            5432,
        )
        assert pooler["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
        assert database.path == f"/{initdb['database']}" and database.username == initdb["owner"]
        assert "sslmode=require" in database.query
    if answers["database"] == "mysql":
        database = urlsplit(urls["DATABASE_URL"])
        (server,) = of_kind(platform, "MariaDB")
        assert (database.scheme, database.hostname, database.port) == (
            "mysql",
            f"{server['metadata']['name']}-primary",  # the operator's primary Service
            3306,
        )
        assert database.path == f"/{server['spec']['database']}"
        assert database.username == server["spec"]["username"]
        password = server["spec"]["passwordSecretKeyRef"]
        assert password["key"] in secrets_written(repo)[password["name"]]
    broker = answers.get("broker")
    if broker is None:
        assert "BROKER_URL" not in urls
        return
    host = urlsplit(urls["BROKER_URL"]).hostname
    provisioned = {
        "rabbitmq": lambda: of_kind(platform, "RabbitmqCluster")[0]["metadata"]["name"],
        "redis": lambda: of_kind(platform, "Redis")[0]["metadata"]["name"],
        "kafka": lambda: "platform-kafka-kafka-bootstrap.kafka",  # the shared Strimzi cluster
        "nats": lambda: "nats.nats",  # the shared NATS server
        "sqs": lambda: "sqs.us-east-1.amazonaws.com",
    }[broker]()
    assert host == provisioned


@pytest.mark.parametrize("broker", ["rabbitmq", "kafka", "nats", "redis"])
def test_broker_resources_are_what_the_worker_declares(rendered: Any, broker: str) -> None:
    """Queue, topic, stream and consumer names and limits equal the worker's settings: a broker
    refuses a declare that differs from what exists (RabbitMQ arguments, JetStream consumers).
    (SQS queues are not declared here: the worker creates them, see brokers/sqs.jinja.)"""
    repo = rendered(f"worker-{broker}")
    answers = answers_of(repo)
    platform = repo / "deploy" / "platform"
    (config,) = of_kind(repo / "deploy" / "k8s", "ConfigMap")
    queue, attempts = config["data"]["QUEUE_NAME"], int(config["data"]["MAX_ATTEMPTS"])
    group = config["data"]["CONSUMER_GROUP"]
    assert answers["broker"] == broker
    if broker == "rabbitmq":
        queues = {q["spec"]["name"]: q["spec"] for q in of_kind(platform, "Queue")}
        assert set(queues) == {queue, f"{queue}.dlq"}
        assert queues[queue]["type"] == "quorum" and queues[queue]["arguments"] == {
            "x-dead-letter-exchange": f"{queue}.dlq",
            "x-delivery-limit": attempts,
        }
    elif broker == "kafka":
        topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(platform, "KafkaTopic")}
        assert set(topics) == {queue, f"{queue}.dlq"}
        assert {t["partitions"] for t in topics.values()} == {6}  # KAFKA_PARTITIONS
    elif broker == "nats":
        streams = {s["spec"]["name"]: s["spec"]["subjects"] for s in of_kind(platform, "Stream")}
        assert streams == {queue: [queue], f"{queue}_dlq": [f"{queue}.dlq"]}
        (consumer,) = of_kind(platform, "Consumer")
        assert consumer["spec"]["durableName"] == group
        assert (consumer["spec"]["maxDeliver"], consumer["spec"]["filterSubject"]) == (
            attempts,
            queue,
        )
    elif broker == "redis":
        (redis,) = of_kind(platform, "Redis")
        password = redis["spec"]["kubernetesConfig"]["redisSecret"]
        assert password["key"] in secrets_written(repo)[password["name"]]


@pytest.mark.parametrize(
    ("given", "instances", "sync", "major", "size", "poolers"),
    [
        ({}, 3, 1, 15, "100Gi", 2),
        (
            {"database_ha": False, "database_version": "17", "database_storage": "250Gi"},
            1,
            None,
            17,
            "250Gi",
            1,
        ),
    ],
    ids=["defaults", "single-17-250Gi"],
)
def test_the_database_answers_shape_the_cluster(
    tmp_path: Path,
    given: dict[str, Any],
    instances: int,
    sync: int | None,
    major: int,
    size: str,
    poolers: int,
) -> None:
    """The lesson's request "PostgreSQL 15, 100GB, HA" by default; each answer changes its field."""
    repo = render(tmp_path / "svc", "api", **given)
    platform = repo / "deploy" / "platform"
    (cluster,) = of_kind(platform, "Cluster")
    spec = cluster["spec"]
    assert spec["instances"] == instances
    assert spec.get("minSyncReplicas") == sync and spec.get("maxSyncReplicas") == sync
    assert spec["imageCatalogRef"]["major"] == major
    assert spec["storage"]["size"] == size
    assert of_kind(platform, "Pooler")[0]["spec"]["instances"] == poolers
    assert spec["backup"]["barmanObjectStore"]["wal"]  # WAL archiving: point-in-time recovery
    (backup,) = of_kind(platform, "ScheduledBackup")
    assert backup["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
