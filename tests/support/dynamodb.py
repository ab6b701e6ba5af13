"""DynamoDB endpoints for the tests: no DynamoDB runs on these machines, two stand-ins do.

- dynalite (npm, 4.0.0): validates requests as strictly as AWS (table names, key schemas,
  expressions, item sizes); lacks TransactWriteItems, UpdateTimeToLive and PartiQL, which the API
  does not use. The API's tests run on it. The worker's cannot: its commit is a transaction.
- moto's server (`moto[server]`, the SQS stand-in too, with its delete race closed and its
  DynamoDB requests serialized: see moto_server.py): supports transactions; validates less (it
  accepts a 2-character table name). The worker's tests run on it.

Neither proves AWS's throughput limits and throttling, the eventual consistency of a global
secondary index (both answer from the index at once), IAM, or latency. Each starts on a free
loopback port and stops at the end of its `with`.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import moto_server
from .brokers import AWS_ENV, _process, free_port
from .render import REPO_ROOT

DYNALITE_VERSION = "4.0.0"
# .ci/install.sh installs it here (npm install --prefix); a test installs it if it is missing.
DYNALITE_PREFIX = REPO_ROOT / ".cache" / "dynalite"


@dataclass(frozen=True)
class DynamoEndpoint:
    """What a generated API needs to reach DynamoDB: the standard AWS variables."""

    name: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self, endpoint: str | None = None) -> dict[str, str]:
        return {**AWS_ENV, "AWS_ENDPOINT_URL_DYNAMODB": endpoint or self.url}


def dynalite_binary() -> Path:
    binary = DYNALITE_PREFIX / "node_modules" / ".bin" / "dynalite"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is missing: .ci/install.sh installs nodejs and npm")
        subprocess.run(
            [npm, "install", "--prefix", str(DYNALITE_PREFIX), f"dynalite@{DYNALITE_VERSION}",
             "--no-audit", "--no-fund", "--silent"],
            check=True, timeout=300,
        )  # fmt: skip
    return binary


@contextmanager
def dynalite(workdir: Path) -> Iterator[DynamoEndpoint]:
    """dynalite in memory on a free port; tables are created and deleted at once (0 ms)."""
    port = free_port()
    cmd = [str(dynalite_binary()), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    with _process(cmd, port, "dynalite", workdir / "dynalite.log"):
        yield DynamoEndpoint("dynalite", "127.0.0.1", port)


@contextmanager
def moto_dynamodb(workdir: Path) -> Iterator[DynamoEndpoint]:
    """moto's server on a free port."""
    port = free_port()
    with _process(moto_server.command(port), port, "moto_server", workdir / "moto.log"):
        yield DynamoEndpoint("moto", "127.0.0.1", port)
