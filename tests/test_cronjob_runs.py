"""The generated daily-report job as Kubernetes runs it: real processes of `python -m
daily_report` against the real PostgreSQL, and MySQL (MariaDB 10.11 stands in: no MySQL 8 server
package exists here, so MySQL-8-only behaviour is not proven; the job's SQL is what both accept),
and MongoDB (nx-27017, a MongoDB wire-protocol server on SQLite, stands in: no MongoDB server can
be installed here. It proves the job's claim, pipeline and conditional updates through the real
driver; it cannot prove a replica set's behaviour (w=majority, failover), any real server
version's, or exact error codes), a database of its own per test run, and a real Prometheus
Pushgateway.

Exactly-once is judged from the database (report rows, ledger rows) and the exit statuses; the
job's JSON log lines say which run did the work. Live, per database: a rerun of a slot is a no-op,
concurrent runs of one slot do the work once, SIGTERM undoes the work, SIGKILL leaves the slot to
the retry (on MongoDB, after the claim's lease).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.render import render
from tests.support.services import mysql_rows
from tests.support.stores import fresh_store, mongodb_server  # noqa: F401  (session fixture)
from tests.support.venv import run_in, venv_for

SLOT = "2026-11-25T02:00"  # reports on 2026-11-24 (UTC, the default zone)
NEXT_SLOT = "2026-11-26T02:00"
PACKAGE = "daily_report"


@pytest.fixture(scope="module", params=["postgresql", "mysql", "mongodb"])
def kind(request: pytest.FixtureRequest) -> str:
    """The database the job is generated for."""
    return str(request.param)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, kind: str) -> Path:
    folder = tmp_path_factory.mktemp(f"cronjob-runs-{kind}") / "daily-report"
    return render(folder, "cronjob", database=kind)


@pytest.fixture(scope="module")
def venv(repo: Path) -> Path:
    return venv_for(repo)


@pytest.fixture(scope="module")
def database(request: pytest.FixtureRequest, kind: str, repo: Path, venv: Path) -> Iterator[str]:
    """A database of this test run, migrated by the job's own `migrate` command, then dropped."""
    with fresh_store(request, kind, "cronjob") as url:
        migrated = run_in(repo, venv, "python", "-m", PACKAGE, "migrate", env={"DATABASE_URL": url})
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        yield url


ORDERS = [  # three orders on 2026-11-24 (4000 cents), one on the 25th
    (datetime(2026, 11, 24, 0, 0, tzinfo=UTC), 1000),
    (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), 2500),
    (datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC), 500),
    (datetime(2026, 11, 25, 8, 0, tzinfo=UTC), 700),
]


@contextmanager
def mongodb(url: str) -> Iterator[Any]:
    """The MongoDB database at `url`."""
    from pymongo import MongoClient

    server, _, name = url.rpartition("/")
    with MongoClient(server, serverSelectionTimeoutMS=5000, tz_aware=True) as client:
        yield client[name]


@pytest.fixture
def db(database: str) -> Iterator[str]:
    """The test run's database, emptied, with three orders on 2026-11-24 and one on the 25th."""
    if database.startswith("mongodb"):
        with mongodb(database) as mongo:
            for collection in ("orders", "daily_reports", "job_runs"):
                mongo[collection].delete_many({})
            mongo.orders.insert_many([{"created_at": at, "amount_cents": c} for at, c in ORDERS])
        yield database
        return
    for table in ("orders", "daily_reports", "job_runs"):
        query(database, f"TRUNCATE TABLE {table}")
    # In UTC: timestamptz on PostgreSQL; naive UTC in MySQL's DATETIME, as the job stores it.
    query(
        database,
        "INSERT INTO orders (created_at, amount_cents) VALUES"
        " ('2026-11-24 00:00:00', 1000), ('2026-11-24 12:00:00', 2500),"
        " ('2026-11-24 23:59:59', 500), ('2026-11-25 08:00:00', 700)",
    )
    yield database


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of `sql` (committed) on the PostgreSQL or MySQL database at `url`."""
    if url.startswith("mysql"):
        return mysql_rows(url, sql)
    with psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def reports(url: str) -> list[tuple[date, int, int]]:
    if url.startswith("mongodb"):
        with mongodb(url) as mongo:
            return [
                (date.fromisoformat(doc["_id"]), doc["order_count"], doc["revenue_cents"])
                for doc in mongo.daily_reports.find().sort("_id", 1)
            ]
    return query(
        url, "SELECT report_date, order_count, revenue_cents FROM daily_reports ORDER BY 1"
    )


def ledger(url: str) -> list[tuple[datetime]]:
    """The slots the ledger holds as done (on MongoDB a claim is not yet a done slot)."""
    if url.startswith("mongodb"):
        with mongodb(url) as mongo:
            entries = list(mongo.job_runs.find().sort("_id", 1))
        # Between runs nothing may be left half-claimed: every entry is a done slot.
        assert all(entry["state"] == "done" for entry in entries), entries
        return [(entry["_id"],) for entry in entries]
    return query(url, "SELECT slot FROM job_runs ORDER BY 1")


class Job:
    """A running `python -m daily_report` whose JSON log lines are collected as they come."""

    def __init__(self, repo: Path, venv: Path, *args: str, **env: str) -> None:
        environ = {
            **os.environ,
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(repo),
            **env,
        }
        self.process = subprocess.Popen(
            [str(venv / "bin" / "python"), "-m", PACKAGE, *args],
            cwd=repo,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.logs: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))  # every stdout line must be one JSON object

    def wait_for_log(self, message: str, timeout: float = 60) -> dict[str, Any]:
        """The first log line with `message`; fails if the job exits or the deadline passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and not self._reader.is_alive():
                    break
                continue
            self.logs.append(line)
            if line["message"] == message:
                return line
        raise AssertionError(f"no log {message!r} (exit {self.process.poll()}): {self.logs}")

    def finish(self, timeout: float = 60) -> int:
        """Wait for the exit and collect every log line; return the exit status."""
        status = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        while not self.lines.empty():
            self.logs.append(self.lines.get())
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()
        return status

    def log(self, message: str) -> dict[str, Any]:
        return next(line for line in self.logs if line["message"] == message)

    @property
    def outcome(self) -> str:
        return str(self.log("run finished")["outcome"])


def run_job(repo: Path, venv: Path, *args: str, **env: str) -> Job:
    job = Job(repo, venv, *args, **env)
    job.finish()
    return job


class TestIdempotence:
    def test_one_report_per_slot_and_a_second_for_the_next_slot(
        self, repo: Path, venv: Path, db: str
    ) -> None:
        """Same slot twice (once via --slot, once via SLOT): one row; the next slot: a second."""
        first = run_job(repo, venv, "--slot", SLOT, DATABASE_URL=db)
        assert (first.process.returncode, first.outcome) == (0, "done"), first.stderr
        again = run_job(repo, venv, DATABASE_URL=db, SLOT=SLOT)
        assert (again.process.returncode, again.outcome) == (0, "skipped"), again.stderr
        assert reports(db) == [(date(2026, 11, 24), 3, 4000)]
        assert len(ledger(db)) == 1

        following = run_job(repo, venv, "--slot", NEXT_SLOT, DATABASE_URL=db)
        assert (following.process.returncode, following.outcome) == (0, "done")
        assert reports(db) == [(date(2026, 11, 24), 3, 4000), (date(2026, 11, 25), 1, 700)]
        assert len(ledger(db)) == 2

    def test_two_runs_of_one_slot_started_at_once_do_the_work_once(
        self, repo: Path, venv: Path, db: str
    ) -> None:
        """Both exit 0; exactly one does the work, the other waits on it and then skips."""
        # Each run holds its transaction open for a few seconds, so that the two overlap even
        # when one process starts later than the other.
        env = {"DATABASE_URL": db, "SLOT": SLOT, "PAUSE_BEFORE_COMMIT": "6"}
        jobs = [Job(repo, venv, **env), Job(repo, venv, **env)]
        statuses = [job.finish() for job in jobs]
        assert statuses == [0, 0], [job.stderr for job in jobs]
        assert sorted(job.outcome for job in jobs) == ["done", "skipped"]
        assert reports(db) == [(date(2026, 11, 24), 3, 4000)]
        assert len(ledger(db)) == 1
        # They really ran at the same time: the loser tried to claim before the winner committed.
        winner, loser = sorted(jobs, key=lambda job: job.outcome)
        claimed_at = datetime.fromisoformat(loser.log("claiming slot")["time"])
        committed_at = datetime.fromisoformat(winner.log("report committed")["time"])
        assert claimed_at < committed_at, (claimed_at, committed_at)


class TestSigterm:
    def test_sigterm_mid_run_rolls_back_exits_non_zero_and_the_retry_completes(
        self, repo: Path, venv: Path, db: str
    ) -> None:
        """The signal lands while the report is written but uncommitted: nothing stays."""
        job = Job(repo, venv, "--slot", SLOT, DATABASE_URL=db, PAUSE_BEFORE_COMMIT="60")
        job.wait_for_log("report written, pausing before commit")
        job.process.send_signal(signal.SIGTERM)
        assert job.finish(timeout=20) == 128 + signal.SIGTERM
        assert job.outcome == "aborted"
        assert job.log("run aborted, nothing committed")["level"] == "ERROR"
        assert reports(db) == []
        assert ledger(db) == []

        retry = run_job(repo, venv, "--slot", SLOT, DATABASE_URL=db)
        assert (retry.process.returncode, retry.outcome) == (0, "done"), retry.stderr
        assert reports(db) == [(date(2026, 11, 24), 3, 4000)]


class TestSigkill:
    def test_a_run_killed_mid_work_leaves_the_slot_to_its_retry(
        self, repo: Path, venv: Path, db: str, kind: str
    ) -> None:
        """SIGKILL (the OOM killer, a lost node) runs no cleanup at all. On SQL the dropped
        connection rolls the transaction back; on MongoDB the claim stays until its lease (30 s)
        runs out, and the retry takes it over. Either way the retry does the work, once."""
        job = Job(repo, venv, "--slot", SLOT, DATABASE_URL=db, PAUSE_BEFORE_COMMIT="60")
        job.wait_for_log("report written, pausing before commit")
        job.process.kill()
        assert job.finish(timeout=20) == -signal.SIGKILL
        assert reports(db) == []

        retry = run_job(repo, venv, "--slot", SLOT, DATABASE_URL=db)
        assert (retry.process.returncode, retry.outcome) == (0, "done"), retry.stderr
        assert reports(db) == [(date(2026, 11, 24), 3, 4000)]
        assert len(ledger(db)) == 1
        if kind == "mongodb":
            assert retry.log("took over an expired claim")["level"] == "WARNING"


# ------------------------------------------------------------------------- Pushgateway


# A server of the job's own kind where nothing answers (PyMongo wants a password with a user).
UNREACHABLE = {
    "postgresql": "://nobody@127.0.0.1:1/nothing",
    "mysql": "://nobody@127.0.0.1:1/nothing",
    "mongodb": "://127.0.0.1:1/nothing",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    """A real Prometheus Pushgateway (Debian's prometheus-pushgateway) on a free port."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        reason = "prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI is set: .ci/run must install it")
        pytest.skip(reason)
    url = f"http://127.0.0.1:{free_port()}"
    gateway = subprocess.Popen(
        [
            binary,
            f"--web.listen-address={url.removeprefix('http://')}",
            f"--persistence.file={tmp_path / 'pushgateway.data'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert gateway.poll() is None, "the Pushgateway exited"
            assert time.monotonic() < deadline, "the Pushgateway did not become ready"
            time.sleep(0.05)
        yield url
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)


def gateway_samples(url: str) -> dict[str, float]:
    """The job's samples on the gateway, keyed `name` or `name/outcome`."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("job") == "daily-report" and sample.name.startswith("cronjob_"):
                key = sample.name + (
                    f"/{sample.labels['outcome']}" if "outcome" in sample.labels else ""
                )
                samples[key] = sample.value
    return samples


def test_run_metrics_reach_a_real_pushgateway(
    repo: Path, venv: Path, db: str, pushgateway: str
) -> None:
    """Success pushes outcome, duration and success time; a later failure keeps that time."""
    before = time.time()
    ok = run_job(repo, venv, "--slot", SLOT, DATABASE_URL=db, PUSHGATEWAY_URL=pushgateway)
    assert ok.process.returncode == 0, ok.stderr
    pushed = gateway_samples(pushgateway)
    assert pushed["cronjob_last_outcome/done"] == 1
    assert pushed["cronjob_last_outcome/failed"] == 0
    assert 0 < pushed["cronjob_duration_seconds"] < 60
    last_success = pushed["cronjob_last_success_timestamp_seconds"]
    assert before <= last_success <= time.time()

    failed = run_job(
        repo,
        venv,
        "--slot",
        NEXT_SLOT,
        PUSHGATEWAY_URL=pushgateway,
        # A database that does not answer (of the job's own kind: another is a bad setting).
        DATABASE_URL=db.split("://")[0] + UNREACHABLE[db.split("://")[0]],
    )
    assert failed.process.returncode == 1
    pushed = gateway_samples(pushgateway)
    assert pushed["cronjob_last_outcome/failed"] == 1
    assert pushed["cronjob_last_outcome/done"] == 0
    assert pushed["cronjob_last_success_timestamp_seconds"] == last_success
