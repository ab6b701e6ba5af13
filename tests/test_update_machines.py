"""A generated repo updates on ANY machine, as a new team member would find it (#14, part 1).

Each "machine" is its own HOME (so its own template cache): a service created on one updates in a
clone on another, with the installed package (a wheel built from this checkout, in a venv) and,
faster, with this checkout. A team's fork given as --template updates with plain `copier update`
wherever its URL is reachable; a source that cannot be found is one sentence saying what to do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from newservice import source
from newservice.cli import app
from newservice.create import create_service
from newservice.git import FALLBACK_IDENTITY, git
from typer.testing import CliRunner

from tests.test_update import PROBE, make_template_repo

REPO_ROOT = Path(__file__).resolve().parents[1]
UPDATING = "## Updating from the template"  # what release 0.2.0 added to every README


def answers(service: Path) -> dict:
    return yaml.safe_load((service / ".copier-answers.yml").read_text())


def commit_all(repo: Path, message: str) -> None:
    git("commit", "-qam", message, "--no-verify", "--no-gpg-sign", cwd=repo, env=FALLBACK_IDENTITY)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """newservice installed from this checkout (`pip install .`: the wheel and its bundle)."""
    venv = tmp_path_factory.mktemp("machines") / "venv"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [
            *uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            str(REPO_ROOT),
        ],
        check=True,
        timeout=600,
    )
    return venv


def machine(venv: Path, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user whose home folder is `home`, with the installed newservice."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    for name in ("PYTHONPATH", "NEWSERVICE_CACHE_DIR", "XDG_CACHE_HOME"):
        env.pop(name, None)
    return {**env, **extra}


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_a_new_team_member_updates_a_clone_with_the_installed_package(
    venv: Path, tmp_path: Path
) -> None:
    """Alice creates at release 0.1.0; Bob (another home, no cache yet) clones and runs
    `newservice update`: the 0.2.0 change and its upgrade notes arrive. Then, Bob's cache being
    populated, plain `copier update` works in a fresh clone too; and Carol, whose cache is not in
    the default place (XDG_CACHE_HOME), updates with newservice."""
    alice = machine(venv, tmp_path / "alice")
    made = run(
        ["newservice", "create", "orders", "--defaults", "--vcs-ref", "v0.1.0"],
        tmp_path / "alice",
        alice,
    )
    assert made.returncode == 0, made.stderr
    origin = tmp_path / "alice" / "orders"
    recorded = answers(origin)
    assert recorded["_src_path"] == "~/.cache/newservice/template"
    assert recorded["_commit"] == "v0.1.0"
    assert UPDATING not in (origin / "README.md").read_text()
    installed = run([str(venv / "bin" / "newservice"), "--version"], tmp_path, alice)
    version = installed.stdout.split()[-1]

    bob = machine(venv, tmp_path / "bob")
    clone = tmp_path / "bob" / "orders"
    git("clone", "-q", str(origin), str(clone))
    updated = run(["newservice", "update"], clone, bob)
    assert updated.returncode == 0, updated.stderr
    assert answers(clone)["_commit"] in {f"v{version}", *[f"v{version}.post{n}" for n in (1, 2)]}
    assert answers(clone)["_src_path"] == "~/.cache/newservice/template"
    assert UPDATING in (clone / "README.md").read_text()
    assert "Upgrade notes for 0.2.0" in updated.stdout
    assert "Updating from the template" in updated.stdout  # the note's own text

    plain_clone = tmp_path / "bob" / "orders-plain"
    git("clone", "-q", str(origin), str(plain_clone))
    plain = run(
        [str(venv / "bin" / "python"), "-m", "copier", "update", "--defaults"], plain_clone, bob
    )
    assert plain.returncode == 0, plain.stderr
    assert UPDATING in (plain_clone / "README.md").read_text()

    carol = machine(venv, tmp_path / "carol", XDG_CACHE_HOME=str(tmp_path / "elsewhere"))
    carol_clone = tmp_path / "carol" / "orders"
    git("clone", "-q", str(origin), str(carol_clone))
    updated = run(["newservice", "update"], carol_clone, carol)
    assert updated.returncode == 0, updated.stderr
    assert answers(carol_clone)["_src_path"] == str(
        tmp_path / "elsewhere" / "newservice" / "template"
    )
    assert UPDATING in (carol_clone / "README.md").read_text()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process as a user with its own home folder and default cache place."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NEWSERVICE_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return home


def _made_elsewhere(tmp_path: Path, src_path: str, commit: str) -> Path:
    """A service at release 0.1.0 whose answers say it was made on another machine."""
    service = create_service(
        {"service_name": "orders"}, tmp_path / "orders", vcs_ref="v0.1.0", defaults=True
    ).destination
    path = service / ".copier-answers.yml"
    text = path.read_text().replace("~/.cache/newservice/template", src_path)
    path.write_text(text.replace("_commit: v0.1.0", f"_commit: {commit}"))
    commit_all(service, "cloned from a colleague's machine")
    return service


def test_a_cache_path_of_another_machine_is_re_resolved(home: Path, tmp_path: Path) -> None:
    """`_src_path: /home/alice/.cache/newservice/template` (what older versions recorded):
    newservice update uses this machine's cache and records it portably."""
    service = _made_elsewhere(tmp_path, "/home/alice/.cache/newservice/template", "v0.1.0")
    result = CliRunner().invoke(app, ["update", str(service)])
    assert result.exit_code == 0, result.output
    assert answers(service)["_src_path"] == "~/.cache/newservice/template"
    assert answers(service)["_commit"] == source.resolve_source().ref
    assert UPDATING in (service / "README.md").read_text()


def test_a_version_this_install_does_not_carry_says_what_to_do(home: Path, tmp_path: Path) -> None:
    """A `_commit` no release has (an unreleased build on another machine): exit 2, one
    sentence naming the fix, nothing touched."""
    service = _made_elsewhere(tmp_path, "/home/alice/.cache/newservice/template", "v0.1.0.post7")
    head = git("rev-parse", "HEAD", cwd=service)
    result = CliRunner().invoke(app, ["update", str(service)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert "v0.1.0.post7" in result.stderr and "pip install -U newservice" in result.stderr
    assert "--template" in result.stderr
    assert git("status", "--porcelain", cwd=service) == ""
    assert git("rev-parse", "HEAD", cwd=service) == head


def test_a_fork_by_url_updates_with_plain_copier_on_another_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--template git+file://... (a fork on a git server): a clone in another home folder
    updates with plain `copier update`, newservice not involved."""
    fork = make_template_repo(tmp_path / "fork")
    url = f"git+{fork.as_uri()}"
    service = create_service(
        {"service_name": "orders"},
        tmp_path / "a" / "orders",
        template=url,
        vcs_ref="v1",
        defaults=True,
    ).destination
    clone = tmp_path / "b" / "orders"
    git("clone", "-q", str(service), str(clone))
    env = {**os.environ, "HOME": str(tmp_path / "b")}
    env.pop("NEWSERVICE_CACHE_DIR", None)
    proc = run([sys.executable, "-m", "copier", "update", "--defaults"], clone, env)
    assert proc.returncode == 0, proc.stderr
    assert answers(clone)["_src_path"] == url and answers(clone)["_commit"] == "v2"
    assert "line two: v2" in (clone / PROBE).read_text()


def test_a_fork_that_moved_is_named_and_followed_with_template(tmp_path: Path) -> None:
    """The recorded fork is gone: exit 2 with the way out (--template); with --template NEW the
    update runs and records NEW."""
    fork = make_template_repo(tmp_path / "fork")
    service = create_service(
        {"service_name": "orders"},
        tmp_path / "orders",
        template=str(fork),
        vcs_ref="v1",
        defaults=True,
    ).destination
    moved = tmp_path / "moved-fork"
    fork.rename(moved)
    refused = CliRunner().invoke(app, ["update", str(service)])
    assert refused.exit_code == 2, refused.output
    assert str(fork) in refused.stderr and "newservice update --template" in refused.stderr
    assert refused.stderr.count("\n") == 1
    followed = CliRunner().invoke(app, ["update", str(service), "--template", str(moved)])
    assert followed.exit_code == 0, followed.output
    assert answers(service)["_src_path"] == str(moved) and answers(service)["_commit"] == "v2"
    assert "line two: v2" in (service / PROBE).read_text()


def test_template_without_the_recorded_version_is_refused(tmp_path: Path) -> None:
    """--template pointing at a source that lacks the service's version: exit 2, nothing done."""
    fork = make_template_repo(tmp_path / "fork")
    service = create_service(
        {"service_name": "orders"},
        tmp_path / "orders",
        template=str(fork),
        vcs_ref="v1",
        defaults=True,
    ).destination
    other = make_template_repo(tmp_path / "other")
    git("tag", "-d", "v1", cwd=other)
    result = CliRunner().invoke(app, ["update", str(service), "--template", str(other)])
    assert result.exit_code == 2, result.output
    assert "has no tag v1" in result.stderr
    assert answers(service)["_commit"] == "v1"
