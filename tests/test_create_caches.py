"""What makes `newservice create` fast changes nothing in what it writes.

- checkout.py: a ready checkout per tag of the template cache repo replaces copier's clone.
- jinja_cache.py: Jinja's compiled code is kept across processes.
- create.py: the first commit streams the files into one pack (core.bigFileThreshold=1).

Every test compares whole file trees (content and mode) with what plain copier renders from the
same source, tag and answers.
"""

from __future__ import annotations

import marshal
import os
import stat
from pathlib import Path

import copier._template
import copier._vcs
import jinja2
import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment
from newservice import jinja_cache
from newservice.create import create_service
from newservice.git import git


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("NEWSERVICE_CACHE_DIR", str(path))
    return path


def tree(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under `root` outside .git: relative path -> (permission bits, content)."""
    found = {}
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if d != ".git"]
        for name in names:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = (
                stat.S_IMODE(path.lstat().st_mode),
                path.read_bytes(),
            )
    return found


def copier_copy(service: Path, dest: Path, **answers: str) -> Path:
    """Plain copier, from the source and tag that `service` recorded."""
    from copier import run_copy

    recorded = yaml.safe_load((service / ".copier-answers.yml").read_text())
    run_copy(
        recorded["_src_path"],
        dest,
        data=answers,
        vcs_ref=recorded["_commit"],
        defaults=True,
        quiet=True,
        unsafe=False,
    )
    return dest


def forbid_clones(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("copier cloned the template although a ready checkout exists")

    monkeypatch.setattr(copier._template, "clone", refuse)
    monkeypatch.setattr(copier._vcs, "clone", refuse)


def count_compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):  # type: ignore[no-untyped-def]
        if isinstance(source, str):  # copier also passes plain values (True, 8000): TypeError
            compiled.append(source[:40])
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return compiled


@pytest.mark.parametrize(
    "answers",
    [
        {"service_type": "api", "service_name": "orders"},
        {"service_type": "worker", "service_name": "events", "broker": "kafka"},
        {"service_type": "cronjob", "service_name": "nightly"},
    ],
    ids=["api", "worker", "cronjob"],
)
def test_cold_and_warm_creates_write_exactly_what_copier_writes(
    tmp_path: Path, cache_dir: Path, answers: dict[str, str]
) -> None:
    cold = create_service(answers, tmp_path / "cold", defaults=True).destination
    warm = create_service(answers, tmp_path / "warm", defaults=True).destination
    # The one answer whose default only newservice knows (the running Python), given to copier.
    running = yaml.safe_load((cold / ".copier-answers.yml").read_text())["python_version"]
    plain = copier_copy(cold, tmp_path / "plain", **answers, python_version=running)
    assert tree(cold) == tree(plain)
    assert tree(warm) == tree(plain)


def test_a_warm_create_neither_clones_nor_compiles(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = create_service({"service_name": "orders"}, tmp_path / "first", defaults=True)
    assert list((cache_dir / "checkouts").iterdir()) == [
        cache_dir / "checkouts" / f"{first.source.ref}-{_tag_commit(cache_dir, first.source.ref)}"
    ]
    forbid_clones(monkeypatch)
    compiled = count_compiles(monkeypatch)
    second = create_service({"service_name": "orders"}, tmp_path / "second", defaults=True)
    assert compiled == []
    assert tree(second.destination) == tree(first.destination)


def test_a_tampered_checkout_is_rebuilt(tmp_path: Path, cache_dir: Path) -> None:
    first = create_service({"service_name": "orders"}, tmp_path / "first", defaults=True)
    (checkout,) = (cache_dir / "checkouts").iterdir()
    readme = checkout / "templates" / "api" / "README.md.jinja"
    readme.write_text("tampered\n")
    (checkout / "templates" / "api" / "EXTRA.md").write_text("not in the tag\n")
    (checkout / "copier.yml").unlink()
    second = create_service({"service_name": "orders"}, tmp_path / "second", defaults=True)
    assert tree(second.destination) == tree(first.destination)
    assert readme.read_text() != "tampered\n" and not (readme.parent / "EXTRA.md").exists()


def test_an_unreadable_code_cache_is_ignored_and_rewritten(tmp_path: Path, cache_dir: Path) -> None:
    first = create_service({"service_name": "orders"}, tmp_path / "first", defaults=True)
    (cache_file,) = (cache_dir / "jinja").iterdir()
    cache_file.write_bytes(b"\x00garbage")
    second = create_service({"service_name": "orders"}, tmp_path / "second", defaults=True)
    assert tree(second.destination) == tree(first.destination)
    assert isinstance(marshal.loads(cache_file.read_bytes()), dict)


def test_a_fork_is_cloned_by_copier_as_usual(tmp_path: Path, cache_dir: Path) -> None:
    """Only newservice's own cache repo gets a ready checkout; other sources are not cached."""
    made = create_service({"service_name": "orders"}, tmp_path / "made", defaults=True)
    recorded = yaml.safe_load((made.destination / ".copier-answers.yml").read_text())
    fork = create_service(
        {"service_name": "orders"},
        tmp_path / "fork",
        template=f"git+file://{recorded['_src_path']}",
        vcs_ref=recorded["_commit"],
        defaults=True,
    )
    assert len(list((cache_dir / "checkouts").iterdir())) == 1
    assert tree(fork.destination).keys() == tree(made.destination).keys()


def test_the_first_commit_is_an_ordinary_sound_repository(tmp_path: Path, cache_dir: Path) -> None:
    service = create_service({"service_name": "orders"}, tmp_path / "orders", defaults=True)
    repo = service.destination
    committed = git("ls-files", cwd=repo).split("\n")[:-1]
    assert sorted(committed) == service.files
    assert git("status", "--porcelain", "--ignored", cwd=repo) == ""
    git("fsck", "--strict", "--no-progress", cwd=repo)  # raises GitError on any broken object
    assert "bigfilethreshold" not in git("config", "--list", "--local", cwd=repo).lower()


def test_the_cache_key_changes_with_the_environment_syntax() -> None:
    """Code compiled for one Jinja syntax is never handed to an environment with another."""
    plain = jinja_cache.environment_fingerprint(SandboxedEnvironment())
    again = jinja_cache.environment_fingerprint(SandboxedEnvironment())
    brackets = jinja_cache.environment_fingerprint(
        SandboxedEnvironment(variable_start_string="[[", variable_end_string="]]")
    )
    trimmed = jinja_cache.environment_fingerprint(SandboxedEnvironment(trim_blocks=True))
    with_filter = SandboxedEnvironment()
    with_filter.filters["shout"] = jinja2.pass_context(lambda context, value: value)
    assert plain == again
    assert len({plain, brackets, trimmed, jinja_cache.environment_fingerprint(with_filter)}) == 4
    assert jinja_cache.environment_fingerprint(SandboxedEnvironment(autoescape=bool)) is None


def _tag_commit(cache_dir: Path, tag: str) -> str:
    return (cache_dir / "template" / ".git" / "refs" / "tags" / tag).read_text().strip()[:12]
