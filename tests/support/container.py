"""Build and run generated Dockerfiles with podman, offline from public registries.

No Docker engine and no public registry are reachable here (see ../shared/CONTAINERS.md): a local
Debian base image made with debootstrap stands in for `python:X-slim`, substituted through the
Dockerfile's `ARG BASE_IMAGE`, as a platform team substitutes its internal mirror. Storage and
engine settings live in one folder per machine (overlay driver, runc, explicit ulimits), so the
base image is built once and every test process, clone and CI run reuses it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

ROOT = Path(os.environ.get("NEWSERVICE_CONTAINERS", "/var/tmp/newservice-containers"))
BASE_IMAGE = "localhost/python-base:bookworm"
SUITE = "bookworm"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
TOOLS = {"podman": "podman", "buildah": "buildah", "runc": "runc", "debootstrap": "debootstrap"}

# root here lacks CAP_SYS_RESOURCE: crun/runc fail to raise limits unless both are set explicitly.
# No systemd runs the machine: cgroupfs and a file event log instead of the systemd defaults.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}/storage"
runroot = "{root}/run"
"""
# Mounted read-only during builds only (never baked into an image): pip trusts the host's CA
# bundle, which holds the CA of the intercepting proxy in front of the package index.
PIP_CONF = f"[global]\ncert = {HOST_CA_BUNDLE}\n"


def _env() -> dict[str, str]:
    ROOT.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("containers.conf", CONTAINERS_CONF),
        ("storage.conf", STORAGE_CONF.format(root=ROOT)),
        ("pip.conf", PIP_CONF),
    ):
        path = ROOT / name
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(path)  # atomic: parallel test processes never read half a file
    return {
        **os.environ,
        "CONTAINERS_CONF": str(ROOT / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(ROOT / "storage.conf"),
    }


# podman subcommands that add or delete layers in the one store every test process shares.
# containers/storage races when two of them run at once: a build's intermediate container or a
# base layer vanishes under it while another process removes an image or a container ("error
# unmounting container ... layer not known", "identifier is not a container"; the same race is
# buildah#5674 and podman#23671, a build beside an `rmi` in a loop). So they take turns, across
# processes, under one file lock. Read-only and signalling commands (inspect, logs, port, kill,
# stop, wait) stay concurrent, so a slow graceful stop never holds up another test's build.
_LAYER_WRITERS = {"build", "run", "create", "rm", "rmi", "import", "commit"}
_LAYER_WRITER_PAIRS = {("image", "rm"), ("image", "prune"), ("container", "rm")}


def writes_layers(args: tuple[str, ...]) -> bool:
    """True for a podman command line that creates or removes layers in the store."""
    return bool(args) and (args[0] in _LAYER_WRITERS or tuple(args[:2]) in _LAYER_WRITER_PAIRS)


def store_lock() -> FileLock:
    """The lock every layer-writing podman command holds (see `_LAYER_WRITERS`)."""
    ROOT.mkdir(parents=True, exist_ok=True)
    return FileLock(str(ROOT / "store-writers.lock"))


def podman(
    *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run podman with this machine's test storage and engine settings."""
    turn = store_lock() if writes_layers(args) else contextlib.nullcontext()
    with turn:
        result = subprocess.run(
            ["podman", *args], env=_env(), capture_output=True, text=True, timeout=timeout
        )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} -> exit {result.returncode}\n{result.stdout}{result.stderr}"
        )
    return result


def ensure_tools() -> None:
    """Install podman, buildah, runc and debootstrap from Debian when one is missing."""
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    with FileLock(str(ROOT) + ".apt.lock"):
        apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-y", "-q"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [*apt, "install", "--no-install-recommends", *missing]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run([*apt, "update"], env=env, check=True, capture_output=True)
            subprocess.run(install, env=env, check=True, capture_output=True)


def debian_mirror() -> str:
    """The Debian mirror apt already uses (deb822 or one-line sources), for debootstrap."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if not path.is_file() or path.suffix not in {".list", ".sources", ""}:
            continue
        text = path.read_text()
        for stanza in re.split(r"\n\s*\n", text):  # deb822: URIs + Suites in one stanza
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:(.*)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
        for match in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if match.group(2) == SUITE:
                return match.group(1)
    return "http://deb.debian.org/debian"


def base_image() -> str:
    """The local python base image (Debian bookworm minbase + python3), built once per machine."""
    ensure_tools()
    ROOT.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ROOT / "base-image.lock")):
        if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
            return BASE_IMAGE
        rootfs = ROOT / "rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        packages = "--include=python3,python3-venv,ca-certificates"
        boot = subprocess.run(
            ["debootstrap", "--variant=minbase", packages, SUITE, str(rootfs), debian_mirror()],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if boot.returncode != 0:
            raise AssertionError(f"debootstrap failed:\n{boot.stdout[-3000:]}{boot.stderr}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        with store_lock():
            imported = subprocess.run(
                ["podman", "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:"
                 "/usr/sbin:/usr/bin:/sbin:/bin", "--change", "ENV LANG=C.UTF-8", "-", BASE_IMAGE],
                stdin=tar.stdout, env=_env(), capture_output=True, text=True, timeout=600,
            )  # fmt: skip
        tar.wait()
        shutil.rmtree(rootfs, ignore_errors=True)
        if imported.returncode != 0 or tar.returncode != 0:
            raise AssertionError(f"podman import failed:\n{imported.stderr}")
    return BASE_IMAGE


def build_image(repo: Path, tag: str, *, timeout: float = 900) -> str:
    """`podman build` repo/Dockerfile on the local base image; return the image reference."""
    image = tag if "/" in tag else f"localhost/{tag}"
    podman(
        "build",
        "--build-arg", f"BASE_IMAGE={base_image()}",
        "--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro",
        "--volume", f"{ROOT / 'pip.conf'}:/etc/pip.conf:ro",
        "--tag", image,
        str(repo),
        timeout=timeout,
    )  # fmt: skip
    return image


def free_port() -> int:
    """A TCP port free on the host's loopback right now (for `host_network` containers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    """A started container: its base URL now; its exit code and logs once stopped."""

    name: str
    url: str
    exit_code: int | None = None
    logs: str = ""
    stop_seconds: float | None = field(default=None, repr=False)

    def wait_http(self, path: str = "/", *, status: int = 200, timeout: float = 30) -> None:
        """Poll `path` until it answers `status`; fail with the container's logs otherwise."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == status:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                if exc.code == status:
                    return
                last = f"HTTP {exc.code}"
            except OSError as exc:
                last = str(exc)
            state = podman("inspect", self.name, "--format", "{{.State.Running}}", check=False)
            if state.stdout.strip() == "false":
                last = "container exited"
                break
            time.sleep(0.1)
        logs = podman("logs", self.name, check=False)
        raise AssertionError(f"{self.url}{path}: {last}\n{logs.stdout}{logs.stderr}")


@contextlib.contextmanager
def run_container(
    image: str,
    *,
    port: int,
    env: dict[str, str] | None = None,
    name: str | None = None,
    restricted: bool = True,
    host_network: bool = False,
    stop_timeout: int = 30,
) -> Iterator[Running]:
    """Run `image` with container `port` published on a free loopback port; stop it on exit.

    `restricted` runs it the way the platform's pods run: read-only root filesystem (tmpfs on
    /tmp), all capabilities dropped, no privilege escalation. `host_network` shares the host's
    network, so the container reaches the services on the host's loopback (PostgreSQL, brokers);
    then nothing is published and `port` must be free on the host (see `free_port`) and be the
    one the service listens on (pass it in `env`, e.g. PORT). On exit the container gets
    `podman stop -t <stop_timeout>` (SIGTERM, then SIGKILL) and `.exit_code`, `.logs` and
    `.stop_seconds` are set.
    """
    name = name or f"newservice-test-{uuid.uuid4().hex[:12]}"
    args = ["run", "--detach", "--name", name]
    args += ["--network=host"] if host_network else ["--publish", f"127.0.0.1::{port}"]
    if restricted:
        args += ["--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges"]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    podman(*args, image)
    try:
        if host_network:
            address = f"127.0.0.1:{port}"
        else:
            address = podman("port", name, f"{port}/tcp").stdout.strip().splitlines()[0]
        running = Running(name=name, url=f"http://{address}")
        yield running
        started = time.monotonic()
        podman("stop", "--time", str(stop_timeout), name, timeout=stop_timeout + 60)
        running.stop_seconds = time.monotonic() - started
        code = podman("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip()
        running.exit_code = int(code)
        logs = podman("logs", name, check=False)
        running.logs = logs.stdout + logs.stderr
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)
