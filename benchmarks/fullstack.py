"""full-stack-fastapi-template's backend as a reference for the read path (issue #11): its
GET /api/v1/items/{id}, with its own token check (an HS256 JWT, then the user row), on the same
PostgreSQL server as the generated service.

Its code is never copied into this repository: `--fullstack` names a checkout of it, or a git
directory (a clone, or the bare snapshot the lead's tools fetch) and a tag, 0.10.0 by default.
The backend is extracted into .cache/fullstack/<label>/ and installed into its own venv there
from PyPI, exactly as its uv.lock pins it (`uv sync --frozen`, the way its Dockerfile does).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from serving import REFERENCES, App, process

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "fullstack"
PARTS = ("pyproject.toml", "uv.lock", "backend")
READY = "/api/v1/utils/health-check/"


class FullstackError(Exception):
    """The reference cannot be set up; the message says why."""


def _source(spec: str, tag: str) -> Path:
    """The template's tree (pyproject.toml, uv.lock, backend/) under CACHE; extracted once."""
    given = Path(spec).resolve()
    if (given / "backend" / "app" / "main.py").is_file():
        label = "checkout-" + hashlib.sha256(str(given).encode()).hexdigest()[:8]
    else:
        label = tag
    tree = CACHE / label / "src"
    if (tree / "backend" / "app" / "main.py").is_file():
        return tree
    tree.mkdir(parents=True, exist_ok=True)
    if label != tag:
        for part in PARTS:
            copy = shutil.copytree if (given / part).is_dir() else shutil.copy2
            copy(given / part, tree / part)
        return tree
    archive = subprocess.run(
        ["git", "--git-dir", str(given), "archive", "--format=tar", tag, *PARTS],
        capture_output=True,
    )
    if archive.returncode != 0:
        shutil.rmtree(tree.parent)
        raise FullstackError(
            f"{spec} is neither a checkout of full-stack-fastapi-template nor a git directory "
            f"with tag {tag}: {archive.stderr.decode().strip()}"
        )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _venv(tree: Path) -> Path:
    """Its venv, installed once from PyPI as its uv.lock pins it; the python to run."""
    venv = tree.parent / "venv"
    if not (venv / ".complete").exists():
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
        done = subprocess.run(
            [sys.executable, "-m", "uv", "sync", "--frozen", "--no-dev", "--package", "app",
             "--python", sys.executable, "--quiet", "--project", str(tree)],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise FullstackError(f"its backend does not install: {done.stderr.strip()[-2000:]}")
        (venv / ".complete").touch()
    return venv / "bin" / "python"


@dataclass(frozen=True)
class Fullstack:
    python: str
    backend: Path
    env: dict[str, str]
    token: str
    item_path: str
    versions: str

    def app(self, thread_limit: int | None) -> App:
        """Its server as shipped (thread_limit None: AnyIO's 40) or with more threads."""
        env = {**self.env, **({"THREAD_LIMIT": str(thread_limit)} if thread_limit else {})}
        return App(
            [self.python, str(REFERENCES / "fullstack_server.py")],
            env,
            READY,
            headers=(f"Authorization: Bearer {self.token}",),
            strict=False,  # as shipped it can deadlock: count what fails rather than stop
        )


def _run(python: str, backend: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [python, *args], cwd=backend, env={**os.environ, **env}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise FullstackError(f"{' '.join(args)} failed: {done.stderr.strip()[-2000:]}")


def _call(url: str, data: bytes, headers: dict[str, str]) -> dict[str, object]:
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, object] = json.loads(response.read())
    return answer


def prepare(spec: str, tag: str, database: str) -> Fullstack:
    """Install it, create its tables in `database` (on SERVER) with its Alembic migrations and
    its first superuser with its own script, then log in for a token and create one item."""
    tree = _source(spec, tag)
    python = str(_venv(tree))
    backend = tree / "backend"
    env = {
        "PYTHONPATH": str(backend),
        "PROJECT_NAME": "fullstack-bench",
        "ENVIRONMENT": "local",
        "POSTGRES_SERVER": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": database,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "FIRST_SUPERUSER": "admin@example.com",
        "FIRST_SUPERUSER_PASSWORD": secrets.token_urlsafe(16),
        "SENTRY_DSN": "",
    }
    _run(python, backend, env, "-m", "alembic", "upgrade", "head")
    _run(python, backend, env, "app/initial_data.py")
    versions = subprocess.run(
        [python, "-c", "import fastapi, sqlalchemy, psycopg; print(f'FastAPI "
         "{fastapi.__version__}, SQLAlchemy {sqlalchemy.__version__}, psycopg "
         "{psycopg.__version__}')"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    server = App([python, str(REFERENCES / "fullstack_server.py")], env, READY)
    with process(server.cmd, server.env, backend, READY, 10) as (_, base, _):
        form = {"username": env["FIRST_SUPERUSER"], "password": env["FIRST_SUPERUSER_PASSWORD"]}
        login = _call(
            base + "/api/v1/login/access-token",
            urllib.parse.urlencode(form).encode(),
            {"content-type": "application/x-www-form-urlencoded"},
        )
        token = str(login["access_token"])
        item = _call(
            base + "/api/v1/items/",
            json.dumps({"title": "bench", "description": "one item to read"}).encode(),
            {"content-type": "application/json", "authorization": f"Bearer {token}"},
        )
    return Fullstack(python, backend, env, token, f"/api/v1/items/{item['id']}", versions)
