"""tests/support/container.py builds a Dockerfile on the local base image and runs it as pods do.

A tiny image (a python venv with one package pip-installed through the proxy, a stdlib HTTP
server running as 10001:10001) is built, served, probed and stopped; the exit code seen after
`podman stop` is the one the process chose.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.support import container

DOCKERFILE = """\
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
# pip inside RUN reaches the index through the host's CA bundle, mounted only for the build.
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --no-deps six==1.17.0
WORKDIR /app
COPY server.py .
USER 10001:10001
CMD ["/opt/venv/bin/python", "server.py"]
"""

# Serves its own facts as JSON; on SIGTERM stops serving and exits with $EXIT_ON_TERM (0).
SERVER = """\
import hashlib, json, os, signal, socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import six

CA = "/etc/ssl/certs/ca-certificates.crt"
PIP_CONF = "/etc/pip.conf"

def writable(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        if "connect" in query:  # can this container reach a port on the host's loopback?
            try:
                socket.create_connection(("127.0.0.1", int(query["connect"][0])), 2).close()
                reached = True
            except OSError:
                reached = False
            body = json.dumps({"reached": reached}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
            return
        body = json.dumps({
            "uid": os.getuid(), "gid": os.getgid(), "six": six.__version__,
            # Build-time mounts leave at most an empty mount point behind, never their content.
            "pip_conf_bytes": os.path.exists(PIP_CONF) and os.path.getsize(PIP_CONF),
            "ca_bundle_sha256": hashlib.sha256(open(CA, "rb").read()).hexdigest(),
            "root_writable": writable("/probe"), "tmp_writable": writable("/tmp/probe"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("serving", flush=True)
server.serve_forever()
print("stopped on SIGTERM", flush=True)
sys.exit(int(os.environ.get("EXIT_ON_TERM", "0")))
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    context = tmp_path_factory.mktemp("tiny-image")
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "server.py").write_text(SERVER)
    return container.build_image(context, "newservice-tooling-tiny:test")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return json.load(response)


@pytest.mark.slow
def test_image_serves_as_non_root_and_exits_zero_on_podman_stop(image: str) -> None:
    with container.run_container(image, port=8080) as running:
        running.wait_http("/healthz")
        facts = get_json(running.url + "/healthz")
    assert facts["uid"] == 10001 and facts["gid"] == 10001
    assert facts["six"] == "1.17.0"  # pip install in RUN went through the proxy
    # The proxy's CA and the pip settings were mounted for the build only, never baked in.
    assert facts["pip_conf_bytes"] == 0
    base = container.podman(
        "run", "--rm", container.base_image(), "sha256sum", "/etc/ssl/certs/ca-certificates.crt"
    )
    assert facts["ca_bundle_sha256"] == base.stdout.split()[0]
    # Run as pods run: read-only root filesystem, writable /tmp.
    assert facts["root_writable"] is False and facts["tmp_writable"] is True
    assert running.exit_code == 0
    assert "stopped on SIGTERM" in running.logs
    assert running.stop_seconds is not None and running.stop_seconds < 30  # not SIGKILLed


@pytest.mark.slow
def test_exit_code_after_stop_is_the_process_own(image: str) -> None:
    with container.run_container(image, port=8080, env={"EXIT_ON_TERM": "3"}) as running:
        running.wait_http("/")
    assert running.exit_code == 3


@pytest.mark.slow
def test_wait_http_fails_with_logs_when_the_container_dies(image: str) -> None:
    # A dead container makes wait_http fail at once, naming it, instead of polling to the end.
    with (
        pytest.raises(AssertionError, match="container exited"),
        container.run_container(image, port=8080) as running,
    ):
        container.podman("kill", "--signal", "KILL", running.name)
        running.wait_http("/healthz", timeout=10)


@pytest.mark.slow
def test_host_network_reaches_services_on_the_host_loopback(image: str) -> None:
    with socket.socket() as listener:  # stands in for PostgreSQL on 127.0.0.1
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        host_port = listener.getsockname()[1]
        port = container.free_port()
        with container.run_container(
            image, port=port, env={"PORT": str(port)}, host_network=True
        ) as running:
            running.wait_http("/")
            assert running.url == f"http://127.0.0.1:{port}"
            assert get_json(f"{running.url}/?connect={host_port}") == {"reached": True}
    assert running.exit_code == 0


@pytest.mark.slow
def test_published_container_cannot_reach_the_host_loopback(image: str) -> None:
    # Why host_network exists: without it, 127.0.0.1 inside is the container's own loopback.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with container.run_container(image, port=8080) as running:
            running.wait_http("/")
            reply = get_json(f"{running.url}/?connect={listener.getsockname()[1]}")
    assert reply == {"reached": False}


def test_debian_mirror_is_the_one_apt_uses() -> None:
    mirror = container.debian_mirror()
    assert mirror.startswith(("http://", "https://"))
    sources = "".join(
        p.read_text()
        for p in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
        if p.is_file()
    )
    assert mirror in sources
