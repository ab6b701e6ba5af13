"""Generator speed: `newservice --help` start-up, and `newservice create` vs plain `copier copy`.

Run from the repo root:

    python benchmarks/bench_generator.py [--rounds 15] [--profile]

It installs this checkout the way users get it (`uv pip install .` into a fresh venv: a wheel with
the templates as package data, not an editable install whose templates change under our feet) and
times that venv's `newservice` and `copier` console scripts. The two generators are measured
ALTERNATELY in one run (the machine is shared and noisy), on the same template source, tag and
answers: the cache repo that the installed newservice records (see README, "Where the templates
of an installed newservice live"). newservice does more than copier copy (validates first,
renders into a staging folder, `git init` + first commit); the ratio says what that costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILE_SCRIPT = """
import cProfile, pstats, sys
from pathlib import Path
from newservice.create import create_service
work = Path(sys.argv[1])
create_service({"service_name": "warm"}, work / "warm2", defaults=True)  # imports, clone cache
profiler = cProfile.Profile()
profiler.enable()
create_service({"service_name": "profiled"}, work / "profiled", defaults=True)
profiler.disable()
pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
"""


PHASES_SCRIPT = """
import statistics, sys, time
from pathlib import Path
from newservice import answers, cache, checkout, create, jinja_cache, questions, source
work = Path(sys.argv[1])
create.create_service({"service_name": "warm"}, work / "warm3", defaults=True)
phases = {}
def timed(name, fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    phases.setdefault(name, []).append(time.perf_counter() - start)
    return result
for i in range(7):
    src = timed("newservice: resolve the template source (fingerprint, tag)", source.resolve_source)
    ready = timed("newservice: find the ready checkout of the tag (git status)",
                  checkout.cached_checkout, src.url, src.ref)
    worker = create._fresh_worker_class()(src_path=src.url, vcs_ref=src.ref, defaults=True,
                                          quiet=True, cleanup_on_error=False)
    checkout.use_checkout(worker.template, ready)
    codes = timed("copier: read copier.yml, make the Jinja env; newservice: attach the code cache",
                  lambda: jinja_cache.attach(worker.jinja_env, cache.cache_root() / "jinja"))
    spec = timed("newservice: questions of copier.yml", questions.Questionnaire, worker, src.url)
    given = {"service_name": f"phase{i}"}
    got = timed("newservice: answers, defaults, validators", answers.collect_answers, spec, given,
                defaults=True, asker=None)
    worker.data, worker.dst_path = got, work / f"stage{i}"
    timed("copier: render (run_copy; git describe + ls-files)", worker.run_copy)
    commit = create._initial_commit
    timed("newservice: git init + add + first commit", commit, worker.dst_path, got, src)
    timed("newservice: save the compiled-code cache (nothing new: no write)", codes.save)
    timed("copier: cleanup", worker._cleanup)
for name, values in phases.items():
    print(f"| {name} | {statistics.median(values) * 1000:.0f} ms |")
"""


def install(work: Path, checkout: Path) -> Path:
    """A fresh venv with `checkout` installed as a wheel; return its bin folder.

    `--compile-bytecode`: pip compiles .pyc files at install time, and so do users' installs;
    without it, a shell with PYTHONDONTWRITEBYTECODE=1 (this machine's) recompiles every module
    of copier, pydantic, prompt_toolkit... from source on each run, ~0.5 s more for both tools.
    """
    venv = work / "venv"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = ["--python", str(venv / "bin" / "python")]
    subprocess.run(
        [*uv, "pip", "install", "--quiet", "--compile-bytecode", *python, str(checkout)],
        check=True,
    )
    return venv / "bin"


def wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"median {statistics.median(samples):.3f} s, min {ordered[0]:.3f} s, p90 {p90:.3f} s"


def bench_help(rounds: int, work: Path, bin_dir: Path) -> tuple[list[float], list[float]]:
    python, helps = [], []
    for _ in range(rounds):
        python.append(wall([str(bin_dir / "python"), "-c", "pass"], work))
        helps.append(wall([str(bin_dir / "newservice"), "--help"], work))
    return python, helps


def bench_create(
    rounds: int, work: Path, bin_dir: Path
) -> tuple[list[float], list[float], str, float]:
    warm = work / "warm"
    # The first create after install fills the caches (template repo, checkout, compiled code).
    first = wall(
        [str(bin_dir / "newservice"), "create", "orders", "--defaults", "--output", str(warm)], work
    )
    recorded = yaml.safe_load((warm / ".copier-answers.yml").read_text())
    src, ref = recorded["_src_path"], recorded["_commit"]
    newservice = [str(bin_dir / "newservice"), "create", "orders", "--type", "api", "--defaults"]
    copier = [str(bin_dir / "copier"), "copy", "--defaults", "--quiet", "--vcs-ref", ref]
    answers = ["--data", "service_type=api", "--data", "service_name=orders"]
    ours, theirs = [], []
    for i in range(rounds):
        for who in ("ours", "theirs") if i % 2 == 0 else ("theirs", "ours"):
            dest = work / f"{who}-{i}"
            if who == "ours":
                ours.append(wall([*newservice, "--output", str(dest)], work))
            else:
                theirs.append(wall([*copier, *answers, src, str(dest)], work))
            shutil.rmtree(dest)
    return ours, theirs, f"{src} @ {ref}", first


def profile_create(work: Path, bin_dir: Path) -> str:
    proc = subprocess.run(
        [str(bin_dir / "python"), "-c", PROFILE_SCRIPT, str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    return proc.stdout


def phases(work: Path, bin_dir: Path) -> str:
    proc = subprocess.run(
        [str(bin_dir / "python"), "-c", PHASES_SCRIPT, str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    return "| phase of one create, in process (median of 7) | wall |\n|---|---|\n" + proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="also cProfile one create")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=REPO_ROOT,
        help="the newservice source tree to install (e.g. an older commit, for before/after)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-generator-") as tmp:
        work = Path(tmp)
        bin_dir = install(work, args.checkout.resolve())
        os.environ["NEWSERVICE_CACHE_DIR"] = str(work / "cache")
        load_before = os.getloadavg()[0]
        python, helps = bench_help(args.rounds, work, bin_dir)
        ours, theirs, source, first = bench_create(args.rounds, work, bin_dir)
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        load_after = os.getloadavg()[0]
        print(f"load average (1 min) before/after: {load_before:.2f} / {load_after:.2f}")
        print(f"rounds: {args.rounds}; template: {source}")
        print("| measurement | result | target |")
        print("|---|---|---|")
        print(f"| `python -c pass` (interpreter floor) | {summary(python)} | |")
        print(f"| `newservice --help` | {summary(helps)} | <= 0.15 s |")
        print(f"| `newservice create orders --type api --defaults` | {summary(ours)} | <= 1.0 s |")
        print(f"| `copier copy --defaults`, same source/tag/answers | {summary(theirs)} | |")
        print(f"| first create after install (fills the caches), one run | {first:.3f} s | |")
        print(
            f"| ratio newservice / copier, per alternating pair | median "
            f"{statistics.median(ratios):.2f}x, min {min(ratios):.2f}x, max {max(ratios):.2f}x "
            "| <= 1.1x |"
        )
        if args.profile:
            print(phases(work, bin_dir))
            print(profile_create(work, bin_dir))


if __name__ == "__main__":
    main()
