"""Turn the templates bundled with this release into a git repo that copier can version.

copier records `_src_path` and `_commit` in a generated repo and, on `copier update`, clones that
source at the old and the new tag. A wheel's package data is not a git repo, so at create time the
bundled copier.yml + templates/ are committed into ONE long-lived repo in the user's cache folder.
First every released version is imported into it from the releases bundle the install carries
(history.py: the same tags and SHAs on every machine), so a service made by any release finds its
old tag on any machine; then the bundled content is tagged: with its release's tag when it is
exactly that release, else `v<version>.post<n>` (an unreleased checkout).

The same content always maps to the same tag (the git tree is compared), so repeated creates cost
one `stat` walk; a file lock makes concurrent creates safe. `_src_path` records the repo as
`~/...` when it lies in the home folder (copier expands `~`), so the same answers file resolves
for every user whose cache is in the default place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from .git import FALLBACK_IDENTITY, git
from .history import RELEASE_ENTRIES, build_bundle, import_bundle
from .releases import BUNDLE, RECORD, read_record

if TYPE_CHECKING:
    from filelock import FileLock

# What a template source of this layout holds (the repo root is the copier template).
TEMPLATE_ENTRIES = RELEASE_ENTRIES
_IGNORED_PARTS = frozenset(
    {"__pycache__", ".DS_Store", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)
_LOCK_TIMEOUT = 300


def cache_root() -> Path:
    """$NEWSERVICE_CACHE_DIR, else $XDG_CACHE_HOME/newservice, else ~/.cache/newservice."""
    if explicit := os.environ.get("NEWSERVICE_CACHE_DIR"):
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(xdg).expanduser() / "newservice").resolve()


def cache_repo() -> Path:
    """The template cache repo of this machine and user."""
    return cache_root() / "template"


def portable(repo: Path) -> str:
    """How `_src_path` records a local repo: `~/...` inside the home folder, else absolute."""
    try:
        return f"~/{repo.relative_to(Path.home().resolve()).as_posix()}"
    except ValueError:
        return str(repo)


def materialize(content_root: Path, version: str) -> tuple[Path, str]:
    """Return (cache repo, tag) holding `content_root`'s template, committing it if new."""
    root = cache_root()
    repo = root / "template"
    index_file = root / "template-index.json"
    files = content_files(content_root)
    record = content_root / RECORD
    releases = record.read_text() if record.is_file() else ""
    fingerprint = _fingerprint(content_root, files, f"{version}\0{releases}")
    # The steady state needs no lock: the index is replaced atomically, and a tag moves only
    # when a new releases record (part of the fingerprint) is imported, under the lock.
    tag = _load_index(index_file).get(fingerprint)
    if tag and _has_tag(repo, tag):
        return repo, tag
    root.mkdir(parents=True, exist_ok=True)
    with lock():
        index = _load_index(index_file)
        tag = index.get(fingerprint)
        if tag and _has_tag(repo, tag):
            return repo, tag
        _import_releases(repo, content_root, releases)
        tag = _commit_content(repo, content_root, files, version)
        index[fingerprint] = tag
        _write_index(index_file, index)
        return repo, tag


def _import_releases(repo: Path, content_root: Path, releases: str) -> None:
    """Give the cache repo every release tag of the record: from the bundle the wheel carries,
    or, in a checkout, from a bundle built once from the checkout's history."""
    record = read_record(content_root / RECORD)
    if not record:
        return
    bundle = content_root / BUNDLE
    if not bundle.is_file():
        if not (content_root / ".git").exists():
            raise RuntimeError(f"{content_root} has {RECORD} but no {BUNDLE}: a broken build")
        key = hashlib.sha256(releases.encode()).hexdigest()[:16]
        bundle = cache_root() / "releases" / f"{key}.bundle"
        if not bundle.is_file():
            pairs = [(str(r.version), r.commit) for r in record]
            build_bundle(content_root, pairs, bundle)
    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", cwd=repo)
    import_bundle(bundle, repo)


def lock() -> FileLock:
    """The lock of the cache folder (filelock is imported only when a lock is needed)."""
    from filelock import FileLock

    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    return FileLock(str(root / "template.lock"), timeout=_LOCK_TIMEOUT)


@contextmanager
def reading(url: str) -> Iterator[None]:
    """Hold the cache lock while copier clones `url`, if `url` is the cache repo.

    Another process may be adding a release's commit, whose `git repack -d` deletes the packs a
    concurrent clone is hard-linking; the lock keeps the two apart. Other sources need no lock.
    """
    root = cache_root()
    if Path(url).expanduser() != root / "template":
        yield
        return
    with lock():
        yield


def content_files(content_root: Path) -> list[str]:
    """The template's files (relative paths): in a git checkout, the ones git does not ignore."""
    if (content_root / ".git").exists():
        out = git(
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            *TEMPLATE_ENTRIES,
            cwd=content_root,
        )
        names = {name for name in out.split("\0") if name}
        return sorted(name for name in names if (content_root / name).is_file())
    found = []
    for entry in TEMPLATE_ENTRIES:
        top = content_root / entry
        paths = [top] if top.is_file() else top.rglob("*") if top.is_dir() else []
        found += [
            path.relative_to(content_root).as_posix()
            for path in paths
            if path.is_file()
            and not _IGNORED_PARTS.intersection(path.parts)
            and path.suffix not in {".pyc", ".pyo"}
        ]
    return sorted(found)


def _fingerprint(content_root: Path, files: list[str], version: str) -> str:
    """Cheap identity of the content: every file's path, size and mtime, plus the version."""
    digest = hashlib.sha256(f"{content_root}\0{version}".encode())
    for name in files:
        st = (content_root / name).stat()
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _commit_content(repo: Path, content_root: Path, files: list[str], version: str) -> str:
    """Copy the content into the work tree; reuse the tag of an identical tree, or tag anew."""
    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", cwd=repo)
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for name in files:
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(content_root / name, target, follow_symlinks=False)
    git("add", "--all", cwd=repo)
    tree = git("write-tree", cwd=repo).strip()
    tags = _tag_trees(repo)
    wanted = f"v{version}"
    if tags.get(wanted) == tree:
        return wanted
    same = [name for name, tag_tree in tags.items() if tag_tree == tree]
    if same:
        return max(same, key=_version_key)
    tag = wanted if wanted not in tags else _next_post_tag(version, tags)
    git(
        "commit",
        "--quiet",
        "--allow-empty",
        "--no-verify",
        "--no-gpg-sign",
        "-m",
        f"newservice templates {tag}",
        cwd=repo,
        env=FALLBACK_IDENTITY,
    )
    git("tag", tag, cwd=repo)
    # One pack instead of loose objects: copier's local clone hardlinks .git/objects, and every
    # loose-object folder is one more directory to create and delete on each create/update.
    git("repack", "-a", "-d", "-q", cwd=repo)
    return tag


def _has_tag(repo: Path, tag: str) -> bool:
    # newservice writes loose tags and never packs refs: a file check saves a git process.
    if (repo / ".git" / "refs" / "tags" / tag).is_file():
        return True
    return bool(git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}", cwd=repo, check=False))


def _tag_trees(repo: Path) -> dict[str, str]:
    out = git("for-each-ref", "refs/tags", "--format=%(refname:strip=2) %(tree)", cwd=repo)
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _next_post_tag(version: str, tags: dict[str, str]) -> str:
    """Same package version, different content (an edited checkout): v<version>.post<n+1>."""
    base = Version(version)
    posts = [
        v.post or 0
        for name in tags
        if (v := _parse(name)) is not None and v.release == base.release and v.pre == base.pre
    ]
    return f"v{version}.post{max(posts, default=0) + 1}"


def _parse(tag: str) -> Version | None:
    try:
        return Version(tag)
    except InvalidVersion:
        return None


def _version_key(tag: str) -> Version:
    return _parse(tag) or Version("0")


def _load_index(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_index(path: Path, index: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    tmp.replace(path)
