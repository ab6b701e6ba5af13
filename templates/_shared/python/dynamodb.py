"""DynamoDB through aiobotocore, as every template that stores data in it reaches it.

Why aiobotocore: it is botocore (the core of the AWS SDK for Python: the same request signing,
credential chain, retries and endpoint rules as boto3) on asyncio, so no request blocks the event
loop; aioboto3 is a thin resource layer over it that these services do not need.

What this module owns, so that each service's store module keeps only its items and access
patterns:
- `client_options`: the region and optional endpoint checked before anything connects, the HTTP
  pool, bounded timeouts and the SDK's standard retries;
- `Client`: one client per process, made lazily without cancelling its own making;
- `ensure_table`: `migrate`'s part: create the table (local servers, tests) or check that the one
  the platform declared has the keys and indexes the code uses, naming what differs;
- `instrument`: the botocore instrumentation's aiobotocore half, when tracing is exported.

Plain Python, no template logic; it sits beside `urls.py` (templates/_shared/python/
database_url.py), whose checks of DYNAMODB_TABLE and endpoint URLs it uses.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import ClientError

from .urls import DatabaseUrlError, endpoint_url

logger = logging.getLogger(__name__)

# Attempts per request (the first included) in the SDK's standard retry mode: exponential backoff
# with jitter, throttling and transient errors (5xx, connection errors) retried.
MAX_ATTEMPTS = 3


def client_options(
    region: str | None,
    endpoints: Mapping[str, str | None],
    max_pool_connections: int,
    connect_timeout: float,
    read_timeout: float,
) -> dict[str, Any]:
    """What aiobotocore's create_client takes, checked before anything connects.

    `region`: AWS_REGION (or AWS_DEFAULT_REGION). `endpoints`: variable name -> value, the most
    specific first (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL); the first one set is used, and
    none means AWS's endpoint of the region. The pool keeps up to `max_pool_connections` HTTP
    connections alive between requests, so a steady load does not reconnect (TLS included).
    Raises DatabaseUrlError naming the variable.
    """
    if not region:
        raise DatabaseUrlError(
            "AWS_REGION is not set: give the region of the DynamoDB table, e.g. us-east-1"
        )
    endpoint = None
    for variable, value in endpoints.items():
        endpoint = endpoint_url(value, variable)
        if endpoint:
            break
    config = AioConfig(
        max_pool_connections=max_pool_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
    )
    return {"region_name": region, "endpoint_url": endpoint, "config": config}


@functools.cache
def _session() -> AioSession:
    """One SDK session per process: its loader keeps the API descriptions it has read, so every
    client after the first (the outbox relay's, for one) is made without reading them again."""
    return get_session()


class Client:
    """One aiobotocore client for the process, made at its first use (no network I/O).

    Making it reads the SDK's API descriptions (about 0.5 s of CPU): that runs as a task of its
    own, so that a caller given up on (a readiness check past READINESS_TIMEOUT) does not
    cancel it, and the next caller finds the client made.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        self._client: Any = None
        self._making: asyncio.Task[None] | None = None
        self._stack = AsyncExitStack()

    async def _make(self) -> None:
        creator = _session().create_client("dynamodb", **self._options)
        self._client = await self._stack.enter_async_context(creator)

    async def get(self) -> Any:
        if self._client is None:
            if self._making is None or self._making.done():
                self._making = asyncio.ensure_future(self._make())
            await asyncio.shield(self._making)
        return self._client

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None


def problems(description: dict[str, Any], definition: dict[str, Any]) -> list[str]:
    """How a DescribeTable answer differs from `definition` (what CreateTable takes): the key
    schema, the type of each defined attribute, each global secondary index and its projection."""
    found: list[str] = []
    keys = definition["KeySchema"]
    if description["KeySchema"] != keys:
        found.append(f"key schema is {description['KeySchema']}, expected {keys}")
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    for attribute in definition["AttributeDefinitions"]:
        name, kind = attribute["AttributeName"], attribute["AttributeType"]
        if types.get(name) != kind:
            found.append(f"attribute {name} is of type {types.get(name)}, expected {kind}")
    indexes = {i["IndexName"]: i for i in description.get("GlobalSecondaryIndexes", [])}
    for expected in definition.get("GlobalSecondaryIndexes", []):
        name = expected["IndexName"]
        index = indexes.get(name)
        if index is None:
            found.append(f"has no global secondary index {name}")
            continue
        if index["KeySchema"] != expected["KeySchema"]:
            found.append(
                f"index {name} has keys {index['KeySchema']}, expected {expected['KeySchema']}"
            )
        projection = expected["Projection"]["ProjectionType"]
        if index["Projection"]["ProjectionType"] != projection:
            found.append(f"index {name} does not project {projection} attributes")
    return found


async def _describe(dynamodb: Any, table: str) -> dict[str, Any]:
    try:
        response = await dynamodb.describe_table(TableName=table)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        raise RuntimeError(
            f"the DynamoDB table {table} does not exist: the platform declares it"
            " (deploy/platform); against a local server, set DYNAMODB_CREATE_TABLE=true"
        ) from None
    description: dict[str, Any] = response["Table"]
    return description


async def ensure_table(options: dict[str, Any], definition: dict[str, Any], create: bool) -> None:
    """Make sure that the table of `definition` exists with its keys and indexes.

    With `create` (DYNAMODB_CREATE_TABLE: local servers and tests) the table is created when
    missing; concurrent runs are safe (one creates, the others find it being created and wait
    for it). In production the platform declares the table and this only checks it: a missing
    table or other keys raise RuntimeError with the reason, so pods never start against the
    wrong table.
    """
    table = definition["TableName"]
    client = Client(options)
    try:
        dynamodb = await client.get()
        if create:
            try:
                await dynamodb.create_table(**definition)
                logger.info("creating the table %s", table)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceInUseException":
                    raise
        description = await _describe(dynamodb, table)
        if description["TableStatus"] != "ACTIVE":  # being created: by this run or another
            waiter = dynamodb.get_waiter("table_exists")
            await waiter.wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
            description = await _describe(dynamodb, table)
        found = problems(description, definition)
        if found:
            raise RuntimeError(f"the DynamoDB table {table}: " + "; ".join(found))
    finally:
        await client.close()
    logger.info("the DynamoDB table %s has the expected keys and indexes", table)


def instrument(tracer_provider: Any) -> None:
    """Trace every DynamoDB call (only called when tracing is exported): the botocore
    instrumentation's aiobotocore half."""
    from opentelemetry.instrumentation.botocore import AiobotocoreInstrumentor

    instrumentor = AiobotocoreInstrumentor()  # type: ignore[no-untyped-call]
    instrumentor.instrument(tracer_provider=tracer_provider)
