"""Generator speed: `newservice --help` start-up, and `newservice create` vs plain `copier copy`.

Run from the repo root (with newservice installed, e.g. `pip install -e .`):

    python benchmarks/bench_generator.py [--rounds 15] [--profile]

The two generators are measured ALTERNATELY in one run (the machine is shared and noisy), on the
same template source, tag and answers: the template of this checkout as newservice records it
(see README, "Where the templates of an installed newservice live"). newservice does more than
copier copy (it validates first, renders into a staging folder, `git init` + first commit); the
ratio says what that costs.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent  # the console scripts themselves, never a pyenv shim


def wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"median {statistics.median(samples):.3f} s, min {ordered[0]:.3f} s, p90 {p90:.3f} s"


def bench_help(rounds: int, work: Path) -> tuple[list[float], list[float]]:
    python, helps = [], []
    for _ in range(rounds):
        python.append(wall([sys.executable, "-c", "pass"], work))
        helps.append(wall([str(BIN / "newservice"), "--help"], work))
    return python, helps


def bench_create(rounds: int, work: Path) -> tuple[list[float], list[float], str]:
    from newservice.source import resolve_source

    source = resolve_source()  # materializes the cache repo once, before timing
    answers = ["--data", "service_type=api", "--data", "service_name=orders"]
    ours, theirs = [], []
    for i in range(rounds):
        for who in ("ours", "theirs") if i % 2 == 0 else ("theirs", "ours"):
            dest = work / f"{who}-{i}"
            if who == "ours":
                cmd = [
                    str(BIN / "newservice"),
                    "create",
                    "orders",
                    "--type",
                    "api",
                    "--defaults",
                    "--output",
                    str(dest),
                ]
                ours.append(wall(cmd, work))
            else:
                cmd = [
                    str(BIN / "copier"),
                    "copy",
                    "--defaults",
                    "--quiet",
                    "--vcs-ref",
                    str(source.ref),
                    *answers,
                    source.url,
                    str(dest),
                ]
                theirs.append(wall(cmd, work))
            shutil.rmtree(dest)
    return ours, theirs, f"{source.url} @ {source.ref}"


def profile_create(work: Path) -> str:
    from newservice.create import create_service

    create_service({"service_name": "warm"}, work / "warm", defaults=True)  # imports, cache
    profiler = cProfile.Profile()
    profiler.enable()
    create_service({"service_name": "profiled"}, work / "profiled", defaults=True)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of one create"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-generator-") as tmp:
        work = Path(tmp)
        python, helps = bench_help(args.rounds, work)
        ours, theirs, source = bench_create(args.rounds, work)
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        print(f"load average before/after: {os.getloadavg()[0]:.2f}")
        print(f"rounds: {args.rounds}; template: {source}")
        print("| measurement | result | target |")
        print("|---|---|---|")
        print(f"| `python -c pass` (interpreter floor) | {summary(python)} | |")
        print(f"| `newservice --help` | {summary(helps)} | <= 0.15 s |")
        print(
            f"| `newservice create orders --type api --defaults` | {summary(ours)} | <= 1.0 s median |"
        )
        print(f"| `copier copy --defaults` (same source, tag, answers) | {summary(theirs)} | |")
        print(
            f"| ratio newservice / copier (per alternating pair) | median {statistics.median(ratios):.2f}x, "
            f"min {min(ratios):.2f}x, max {max(ratios):.2f}x | <= 1.1x |"
        )
        if args.profile:
            print(profile_create(work))


if __name__ == "__main__":
    main()
