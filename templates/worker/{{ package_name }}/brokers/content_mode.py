"""Which CloudEvents content mode a message is in: one rule for every broker module.

Structured mode when the binding's content type says so (`application/cloudevents`, with any
`+format` suffix and parameters, matched case-insensitively: the rule of the Kafka, AMQP and
NATS bindings). Binary mode when a CloudEvents attribute header (the binding's prefix) is there.
Structured otherwise: a producer that sets no headers at all, as earlier versions of this worker
did, sends the JSON event format.

Brokers without a CloudEvents binding of their own (SQS, Redis Streams) and NATS carry the
attributes as the HTTP binding does, `ce-` headers (percent-encoded) and `content-type`; NATS's
binding is exactly that, with `ce-datacontenttype` also understood. `from_headers` reads them
with the SDK's HTTP binding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cloudevents.core.base import BaseCloudEvent, EventFactory
from cloudevents.core.bindings import http
from cloudevents.core.formats.json import JSONFormat

STRUCTURED = "application/cloudevents"
FORMAT = JSONFormat()
# Where the bindings put the content type of structured mode (and datacontenttype in binary).
CONTENT_TYPE = "content-type"


def is_structured(
    content_type: str | None, names: Iterable[str], prefixes: tuple[str, ...]
) -> bool:
    """True for structured mode, False for binary mode (see the module's docstring)."""
    if content_type and content_type.strip().lower().startswith(STRUCTURED):
        return True
    lowered = tuple(prefix.lower() for prefix in prefixes)
    return not any(name.lower().startswith(lowered) for name in names)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name`, matched case-insensitively (NATS and HTTP header rules)."""
    return next((value for key, value in headers.items() if key.lower() == name), None)


def from_headers(headers: Mapping[str, str], body: bytes, factory: EventFactory) -> BaseCloudEvent:
    """A CloudEvent from HTTP-binding-style headers and a body, in either content mode."""
    message = http.HTTPMessage(headers=dict(headers), body=body)
    if is_structured(header(headers, CONTENT_TYPE), headers, (http.CE_PREFIX,)):
        return http.from_structured(message, FORMAT, factory)
    return http.from_binary(message, FORMAT, factory)


def structured_headers(headers: Mapping[str, str], name: str = CONTENT_TYPE) -> dict[str, str]:
    """`headers` plus the content type (header `name`) that marks a structured-mode JSON event."""
    return {**headers, name: FORMAT.get_content_type()}
