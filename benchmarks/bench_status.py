"""`newservice status` on a fleet of 50 generated repos: how long until the whole table is known.

Run from the repo root:

    python benchmarks/bench_status.py [--repos 50] [--rounds 1] [--naive-sample 3] [--serial]

Builds a throwaway template source tagged v1 and v2 (as tests/test_update.py does: v2 changes one
line of a file every template has), then 50 repos with `newservice create` (api, worker and
cronjob in turn): most at v1 and untouched, every fifth at v1 with an edit of the line v2 changes
(a predicted conflict), every seventh at v2 (current), every third with an edit v2 merges.
Then, alternately in one run (the machine is shared and noisy):

- `newservice status FLEET --json` (processes bounded by the cores: the default), timed;
- with `--serial`, the same with `--jobs 1`, timed;
- the naive way, for comparison: per repo, a clone and plain `copier update --defaults` in it (a
  new process per repo, copier cloning the template for each render), on a sample of
  `--naive-sample` behind repos; the per-repo time times the number of behind repos estimates a
  fleet.

Each time is wall-clock and CPU (user + system of the command and every process it waited for,
from getrusage): on a shared machine the wall time follows the load, the CPU time much less;
CPU seconds / cores is what the wall time would be on an idle machine of this size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "generator")]

from newservice.create import create_service  # noqa: E402
from newservice.git import git  # noqa: E402

from tests.test_update import PROBE, _commit_all, make_template_repo  # noqa: E402

KINDS = ("api", "worker", "cronjob")
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "generator")}


def build_fleet(root: Path, count: int) -> tuple[Path, Path]:
    template = make_template_repo(root / "template")
    fleet = root / "fleet"
    for number in range(count):
        kind = KINDS[number % 3]
        ref = "v2" if number % 7 == 6 else "v1"
        repo = create_service(
            {"service_name": f"svc-{number:02d}", "service_type": kind},
            fleet / f"team-{number % 4}" / f"svc-{number:02d}",
            template=str(template),
            vcs_ref=ref,
            defaults=True,
        ).destination
        probe = repo / PROBE
        if ref == "v1" and number % 5 == 4:
            probe.write_text(probe.read_text().replace("line two: v1", "line two: ours"))
            _commit_all(repo, "edit the line v2 changes")
        elif number % 3 == 2:
            with probe.open("a") as out:
                out.write("line four: ours\n")
            _commit_all(repo, "an edit v2 merges")
    return template, fleet


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_status(fleet: Path, *extra: str) -> tuple[float, float, dict]:
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "newservice", "status", str(fleet), "--json", *extra],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=1800,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1, 3):
        raise SystemExit(f"newservice status failed ({proc.returncode}): {proc.stderr}")
    return elapsed, _children_cpu() - cpu, json.loads(proc.stdout)["summary"]


def time_naive(repo: Path, scratch: Path) -> tuple[float, float]:
    cpu = _children_cpu()
    start = time.perf_counter()
    clone = scratch / f"naive-{repo.name}-{time.monotonic_ns()}"
    git("clone", "--quiet", "--shared", str(repo), str(clone))
    subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults", "--quiet"],
        cwd=clone,
        capture_output=True,
        check=True,
        timeout=600,
    )
    git("status", "--porcelain", cwd=clone)
    return time.perf_counter() - start, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--naive-sample", type=int, default=3)
    parser.add_argument("--serial", action="store_true", help="also time --jobs 1")
    args = parser.parse_args()
    print(f"load at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-status-") as folder:
        root = Path(folder)
        start = time.perf_counter()
        _, fleet = build_fleet(root, args.repos)
        print(f"built {args.repos} repos in {time.perf_counter() - start:.1f} s", flush=True)
        behind = [
            p.parent
            for p in sorted(fleet.rglob(".copier-answers.yml"))
            if "_commit: v1" in p.read_text()
        ]
        runs: dict[str, list[tuple[float, float]]] = {"default": [], "serial": [], "naive": []}
        summary: dict = {}
        for number in range(args.rounds):
            wall, cpu, summary = time_status(fleet)
            runs["default"].append((wall, cpu))
            print(f"status: {wall:.1f} s wall, {cpu:.1f} s CPU, load {os.getloadavg()[0]:.1f}")
            if args.serial:
                wall, cpu, _ = time_status(fleet, "--jobs", "1")
                runs["serial"].append((wall, cpu))
                print(f"--jobs 1: {wall:.1f} s wall, {cpu:.1f} s CPU")
            sample = behind[number * args.naive_sample : (number + 1) * args.naive_sample]
            for repo in sample:
                runs["naive"].append(time_naive(repo, root))
                print(
                    f"naive, one repo: {runs['naive'][-1][0]:.1f} s wall, "
                    f"{runs['naive'][-1][1]:.1f} s CPU",
                    flush=True,
                )
    cores = len(os.sched_getaffinity(0))
    print(f"\nfleet: {args.repos} repos, {len(behind)} behind; summary {summary}")
    print(f"cores: {cores}; load at end: {os.getloadavg()}")
    for name, label in (
        ("default", "newservice status (default jobs)"),
        ("serial", "newservice status --jobs 1"),
    ):
        if runs[name]:
            wall = statistics.median(w for w, _ in runs[name])
            cpu = statistics.median(c for _, c in runs[name])
            print(
                f"{label}: median {wall:.1f} s wall, {cpu:.1f} s CPU "
                f"(CPU / {cores} cores = {cpu / cores:.1f} s)"
            )
    wall = statistics.median(w for w, _ in runs["naive"])
    cpu = statistics.median(c for _, c in runs["naive"])
    print(
        f"naive clone + copier update, per repo: median {wall:.2f} s wall, {cpu:.2f} s CPU "
        f"-> x{len(behind)} behind repos = {cpu * len(behind):.0f} s CPU "
        f"({cpu * len(behind) / cores:.0f} s on {cores} idle cores)"
    )


if __name__ == "__main__":
    main()
