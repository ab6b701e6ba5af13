"""A worker's readiness sees its broker go away and come back, on every broker.

Per broker, a live worker (`python -m <package>` from a rendered repo) on a broker of the test's
own (tests/support/outages.py says how each one is taken away) while events flow: before the
outage, during it where the broker still accepts them, and after it. Asserted:
- `/readyz` turns 503 naming the broker, with a reason, within READINESS_TIMEOUT (+1 s for the
  stop to take effect), stays 503 while the broker is away, and is 200 again after it returns;
- `/healthz` is 200 throughout (an outage must not restart the pod);
- consuming resumes by itself, and every event published has exactly one effect.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.brokers import BrokerEndpoint
from tests.support.outages import outage_for
from tests.support.render import render
from tests.support.services import fresh_database
from tests.support.venv import venv_for
from tests.support.worker import (
    WRAPPER,
    RunningWorker,
    WorkerRepo,
    counts,
    eventually,
    script,
    wait_for_rows,
)

BROKERS = ["rabbitmq", "nats", "redis", "kafka", "sqs"]
READINESS_TIMEOUT = 2.0
# A probe sent this long after the broker went away must answer 503: the stop itself (a process
# exiting, sockets closing) and the client noticing take well under this.
SETTLE = 1.0
# How long the broker stays away: long enough for several probes to see it.
OUTAGE = 6.0
# aio-pika reconnects every 5 s; a Kafka consumer must also rejoin its group.
RECOVERY = 30.0
PROBE_EVERY = 0.25

pytestmark = pytest.mark.timeout(300)


@dataclass(frozen=True)
class Sample:
    """One round of probes: /readyz sent and answered when, its status and body; /healthz."""

    sent: float
    answered: float
    ready: int
    body: dict[str, Any]
    healthy: int


class ProbeTimeline:
    """Asks /readyz and /healthz every PROBE_EVERY seconds in a thread, until closed."""

    def __init__(self, worker: RunningWorker) -> None:
        self.samples: list[Sample] = []
        self._worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProbeTimeline:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        base = f"http://127.0.0.1:{self._worker.port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                ready = client.get("/readyz")
                answered = time.monotonic()
                healthy = client.get("/healthz")
                self.samples.append(
                    Sample(sent, answered, ready.status_code, ready.json(), healthy.status_code)
                )
                self._stop.wait(max(0.0, PROBE_EVERY - (time.monotonic() - sent)))

    def ready_after(self, moment: float) -> bool:
        return any(s.sent >= moment and s.ready == 200 for s in self.samples)

    def unready_after(self, moment: float) -> bool:
        return any(s.sent >= moment and s.ready == 503 for s in self.samples)


@dataclass(frozen=True)
class Rendered:
    """A worker repo for one broker and its venv; each test gives it a broker of its own."""

    broker: str
    repo: Path
    venv: Path

    def on(self, endpoint: BrokerEndpoint) -> WorkerRepo:
        return WorkerRepo(self.broker, self.repo, self.venv, endpoint)


@pytest.fixture(scope="module", params=BROKERS)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    broker = request.param
    repo = render(tmp_path_factory.mktemp(f"outage-{broker}") / "repo", "worker", broker=broker)
    return Rendered(broker, repo, venv_for(repo))


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database("outage") as url:
        yield url


def test_readiness_follows_the_broker_and_no_event_is_lost_or_doubled(
    rendered: Rendered, database_url: str, tmp_path: Path
) -> None:
    """Broker away mid-stream: 503 naming it within READINESS_TIMEOUT, healthz 200, then 200
    again and every event before, during (where accepted) and after has exactly one effect."""
    queue = f"order-events-{uuid.uuid4().hex[:10]}"
    with outage_for(rendered.broker, tmp_path) as outage:
        worker_repo = rendered.on(outage.worker)
        publisher = rendered.on(outage.publisher)
        # Small batches and a slow send: the outage starts while events are in flight.
        env = worker_repo.environment(
            database_url,
            queue,
            CONCURRENCY="8",
            TEST_SEND_DELAY="0.05",
            READINESS_TIMEOUT=str(READINESS_TIMEOUT),
        )
        publishing = publisher.environment(database_url, queue)
        worker_repo.cli(env, "migrate")
        log = tmp_path / "worker.log"
        worker = worker_repo.start(env, log, script(tmp_path, "wrapper.py", WRAPPER))
        try:
            eventually(lambda: worker.get("/readyz").status_code == 200, 30, "ready")
            with ProbeTimeline(worker) as timeline:
                published = 600
                publisher.cli(publishing, "publish", "--count", str(published))
                eventually(lambda: counts(database_url)[0] >= 30, 60, "30 notifications", 0.02)
                stopping = time.monotonic()
                outage.stop()
                away = time.monotonic()
                assert counts(database_url)[0] < published, "the outage came after the stream"
                eventually(lambda: timeline.unready_after(away), SETTLE + READINESS_TIMEOUT, "503")
                if outage.accepts_during:
                    publisher.cli(publishing, "publish", "--count", "100")
                    published += 100
                # Holding the outage (not waiting for anything): several probes must see it.
                time.sleep(max(0.0, away + OUTAGE - time.monotonic()))
                returning = time.monotonic()
                outage.start()
                back = time.monotonic()
                eventually(lambda: timeline.ready_after(back), RECOVERY, "ready again")
                recovered = time.monotonic()
                publisher.cli(publishing, "publish", "--count", "100")
                published += 100
                wait_for_rows(database_url, published, 120)
                # Anything left unacked by the outage comes back by REDELIVERY_TIMEOUT (5 s):
                # give it that chance, then one last event; once it is handled, all came back.
                time.sleep(max(0.0, back + 6 - time.monotonic()))
                publisher.cli(publishing, "publish", "--id", f"last-{queue}")
                published += 1
                wait_for_rows(database_url, published, 60)
        finally:
            assert worker.stop(signal.SIGTERM, 30) == 0
    assert counts(database_url) == (published, published, published)
    _assert_timeline(timeline.samples, (stopping, away, returning, back), rendered.broker, log)
    first_503 = _first(timeline.samples, stopping, 503)
    print(  # the numbers behind the README's bounds, shown with -s
        f"{rendered.broker}: stop took {away - stopping:.2f} s; first 503 answered"
        f" {first_503 - stopping:.2f} s after it began; 200 again {recovered - back:.2f} s"
        f" after the broker was back"
    )


def _first(samples: list[Sample], moment: float, status: int) -> float:
    return min(s.answered for s in samples if s.sent >= moment and s.ready == status)


def _assert_timeline(
    samples: list[Sample], moments: tuple[float, float, float, float], broker: str, log: Path
) -> None:
    """Moments: the broker was being stopped, was gone, was being started, was back."""
    stopping, away, returning, back = moments
    shown = "\n".join(
        f"{s.sent - away:+7.2f}s {s.ready} {s.body.get('checks')} healthz {s.healthy}"
        for s in samples
    )
    assert all(s.healthy == 200 for s in samples), f"/healthz failed during the outage:\n{shown}"
    assert all(s.answered - s.sent < READINESS_TIMEOUT + 0.5 for s in samples), shown
    before = [s for s in samples if s.answered < stopping]
    assert before and all(s.ready == 200 for s in before), f"not ready before the outage:\n{shown}"
    during = [s for s in samples if s.sent >= away + SETTLE and s.answered < returning]
    assert len(during) >= 10, shown
    for s in during:
        reason = s.body.get("checks", {}).get("broker", "")
        assert s.ready == 503 and s.body["failing"] == ["broker"], f"ready while away:\n{shown}"
        assert reason and reason != "ok", shown
    assert samples[-1].ready == 200, f"not ready after the broker returned:\n{shown}"
    assert all(s.ready == 200 for s in samples if s.sent >= _first(samples, back, 200)), (
        f"{broker}: readiness flapped after the return:\n{shown}\n{log.read_text()[-3000:]}"
    )


def test_sigterm_while_the_broker_is_away_exits_0(
    rendered: Rendered, database_url: str, tmp_path: Path
) -> None:
    """SIGTERM with the broker gone: the worker still stops within SHUTDOWN_TIMEOUT, exit 0."""
    queue = f"order-events-{uuid.uuid4().hex[:10]}"
    with outage_for(rendered.broker, tmp_path) as outage:
        worker_repo = rendered.on(outage.worker)
        env = worker_repo.environment(database_url, queue, SHUTDOWN_TIMEOUT="10")
        worker_repo.cli(env, "migrate")
        worker = worker_repo.start(env, tmp_path / "worker.log")
        eventually(lambda: worker.get("/readyz").status_code == 200, 30, "ready")
        outage.stop()
        eventually(lambda: worker.get("/readyz").status_code == 503, 10, "503")
        started = time.monotonic()
        assert worker.stop(signal.SIGTERM, 30) == 0, (tmp_path / "worker.log").read_text()[-3000:]
        assert time.monotonic() - started < 10
