"""The few git commands newservice runs itself, as plain subprocesses (no extra dependency)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from .errors import GitMissingError

# Commits made by newservice (the template cache, a new service's first commit when the user has
# no git identity) need an author; git refuses to guess one on a fresh machine.
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "newservice",
    "GIT_AUTHOR_EMAIL": "newservice@localhost",
    "GIT_COMMITTER_NAME": "newservice",
    "GIT_COMMITTER_EMAIL": "newservice@localhost",
}


class GitError(Exception):
    """A git command failed; `stderr` holds git's own explanation."""

    def __init__(self, args: list[str], stderr: str) -> None:
        super().__init__(f"git {' '.join(args)} failed: {stderr.strip()}")
        self.stderr = stderr


def git(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 120,
    input: str | None = None,
) -> str:
    """Run `git args...` (feeding it `input`) and return its stdout; raise GitError when it fails
    and `check` is set."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
    except FileNotFoundError:
        if shutil.which("git", path=full_env.get("PATH")):
            raise  # git exists: the missing file is the working folder, a bug to surface
        raise GitMissingError(
            "git is not installed (or not on PATH); newservice and copier need git to version "
            "templates and to create the service's repository"
        ) from None
    if check and proc.returncode != 0:
        raise GitError(list(args), proc.stderr)
    return proc.stdout


def commit_with_fallback_identity(repo: Path, message: str) -> None:
    """Commit the index as the user; on a machine with no git identity, as newservice."""
    args = ("commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message)
    try:
        git(*args, cwd=repo)
    except GitError as error:
        if "user.email" not in error.stderr and "identity" not in error.stderr.lower():
            raise
        git(*args, cwd=repo, env=FALLBACK_IDENTITY)


def is_dirty(repo: Path) -> bool:
    """True when the work tree has staged, unstaged or untracked (not ignored) changes."""
    return bool(git("status", "--porcelain", cwd=repo).strip())


def is_work_tree(path: Path) -> bool:
    """True when `path` is inside a git work tree."""
    out = git("rev-parse", "--is-inside-work-tree", cwd=path, check=False).strip()
    return out == "true"
