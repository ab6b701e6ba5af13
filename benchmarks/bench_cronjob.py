"""Cron job cost: what one run of the generated daily-report job costs beyond its SQL.

Side by side, in one run, on one PostgreSQL database holding ORDERS orders on the reported day:
- process floor: `python -c pass` in the job's venv (interpreter start-up alone);
- skipped run: `python -m daily_report` for a slot already done (start-up, imports, connect,
  ledger check, exit): the cost of a duplicate start or retry;
- done run: `python -m daily_report` doing the work (claim + aggregate + report + commit);
- in-process, on a warm connection: `run_once` (claim + aggregate + upsert + commit) against
  the bare aggregate over the same day through the same engine, to show what the ledger and the
  report's upsert add to the SQL itself.
Each figure is the median of REPEATS; the report and ledger are deleted before each done run.

    python benchmarks/bench_cronjob.py [--orders 100000] [--repeats 5]

Needs the `test` extra and PostgreSQL on loopback.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.render import render
from tests.support.services import SERVICES
from tests.support.venv import run_in, venv_for

POSTGRES = SERVICES["postgresql"][2]
SLOT = "2026-11-25T02:00"  # reports on 2026-11-24 UTC
RAW = (
    "SELECT count(*), coalesce(sum(amount_cents), 0) FROM orders"
    " WHERE created_at >= '2026-11-24T00:00Z' AND created_at < '2026-11-25T00:00Z'"
)


def timed(repo: Path, venv: Path, *cmd: str, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = run_in(repo, venv, *cmd, env=env)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    return elapsed, result.stdout


# Runs in the job's venv: run_once vs the bare aggregate, both on a warm engine (seconds, JSON).
IN_PROCESS = """
import json, statistics, sys, time
from datetime import datetime
from sqlalchemy import text
from daily_report.database import make_engine
from daily_report.job import run_once
from daily_report.schedule import checked_slot
from daily_report.settings import Settings
from daily_report.stores import open_store

settings = Settings()
engine = make_engine(settings)
store = open_store(settings)
slot = checked_slot(settings.SCHEDULE, settings.zone, datetime.fromisoformat(sys.argv[1]))
job, raw = [], []
for _ in range(int(sys.argv[2]) + 1):  # the first pass warms the connection and compiled SQL
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM job_runs; DELETE FROM daily_reports"))
    started = time.perf_counter()
    assert run_once(settings, store, slot).outcome == "done"
    job.append(time.perf_counter() - started)
    with engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(text(sys.argv[3])).one()
        raw.append(time.perf_counter() - started)
print(json.dumps({"job": job[1:], "raw": raw[1:]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        repo = render(Path(tmp) / "daily-report", "cronjob")
        venv = venv_for(repo)
        name = f"bench_cronjob_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
        env = {"DATABASE_URL": url, "SCHEDULE": "0 2 * * *", "TIMEZONE": "Etc/UTC"}
        try:
            timed(repo, venv, "python", "-m", "daily_report", "migrate", env=env)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO orders (created_at, amount_cents) SELECT"
                    " '2026-11-24T00:00Z'::timestamptz + (i * interval '86399 seconds') / %s,"
                    " (i %% 10000) FROM generate_series(1, %s) AS i",
                    (args.orders, args.orders),
                )
                conn.execute("ANALYZE orders")

            floor, skipped, done = [], [], []
            for _ in range(args.repeats):
                floor.append(timed(repo, venv, "python", "-c", "pass", env=env)[0])
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("DELETE FROM job_runs")
                    conn.execute("DELETE FROM daily_reports")
                done.append(
                    timed(repo, venv, "python", "-m", "daily_report", "--slot", SLOT, env=env)[0]
                )
                skipped.append(
                    timed(repo, venv, "python", "-m", "daily_report", "--slot", SLOT, env=env)[0]
                )
            out = timed(
                repo, venv, "python", "-c", IN_PROCESS, SLOT, str(args.repeats), RAW, env=env
            )[1]
            in_process = json.loads(out.strip().splitlines()[-1])
        finally:
            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.1f} ms"

    print(f"orders on the reported day: {args.orders}, repeats: {args.repeats} (medians)")
    print(f"| process floor (python -c pass) | {ms(floor)} |")
    print(f"| skipped run (slot already done), wall | {ms(skipped)} |")
    print(f"| done run, wall | {ms(done)} |")
    print(f"| run_once in-process (claim, aggregate, upsert, commit) | {ms(in_process['job'])} |")
    print(f"| bare aggregate query, same engine and day | {ms(in_process['raw'])} |")


if __name__ == "__main__":
    main()
