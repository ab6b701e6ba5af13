"""Prometheus metrics shared by every service: build info and the text exposition.

Metrics live in prometheus-client's default registry (one process per pod, so no multiprocess
mode); each module defines the metrics it records next to the code that records them.
"""

from __future__ import annotations

import platform

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Info, generate_latest

BUILD_INFO = Info("build", "Build of the running service (always 1; the labels carry the data).")


def set_build_info(service: str, version: str) -> None:
    """Publish `build_info{service, version, python_version} 1`."""
    BUILD_INFO.info(
        {"service": service, "version": version, "python_version": platform.python_version()}
    )


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, and the content type to serve them with."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
