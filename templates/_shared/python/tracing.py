"""OpenTelemetry tracing, switched on by the standard OTEL_* variables and a no-op otherwise.

Exporting is on when OTEL_TRACES_EXPORTER names an exporter other than `none`, or when an OTLP
endpoint is given (OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); the
OTel SDK then reads the rest itself (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS, ...). OTLP goes over HTTP/protobuf (port 4318).

Why nothing is set up when exporting is off: a global tracer provider makes instrumented libraries
(FastAPI >= 0.16x traces every request natively once one is set) create spans for every request,
which costs about two thirds of the throughput of a small endpoint for spans nobody receives.
The SDK is imported lazily for the same reason: start-up time and memory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

SUPPORTED_EXPORTERS = ("otlp", "console", "none")


def exporters_from_env(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The span exporters the environment asks for; empty when tracing should stay off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = environ.get("OTEL_TRACES_EXPORTER")
    if names is None:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    chosen = [name.strip().lower() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SUPPORTED_EXPORTERS]
    if unknown:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER names unsupported exporter(s) {', '.join(unknown)}; "
            f"use {', '.join(SUPPORTED_EXPORTERS)}"
        )
    return [name for name in chosen if name != "none"]


def configure_tracing(
    service_name: str, version: str, environ: Mapping[str, str] = os.environ
) -> TracerProvider | None:
    """Install a global SDK tracer provider when exporting is on; return it (None when off)."""
    exporters = exporters_from_env(environ)
    if not exporters:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    attributes: dict[str, str] = {SERVICE_VERSION: version}
    if not environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = service_name
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in exporters:
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            # stderr, one span per line: stdout carries only the JSON log lines.
            exporter = ConsoleSpanExporter(
                out=sys.stderr, formatter=lambda span: span.to_json(indent=None) + "\n"
            )
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def shutdown_tracing(provider: TracerProvider | None) -> None:
    """Flush the spans still queued and stop the exporters (call once, at shutdown)."""
    if provider is not None:
        provider.shutdown()
