"""The SQS stand-in deletes exactly what it is told to, even when two deletes overlap; the
DynamoDB stand-in keeps a commit made while another transaction is being cancelled.

The worker's exactly-once tests on SQS read moto's behaviour as SQS's: a message whose delete
answered 200 must never come back. moto 5.x breaks that when two DeleteMessage requests overlap in
its threaded server (tests/support/moto_server.py says how and where it was seen); the worker's
tests run moto through that launcher, which closes the race. This test drives moto's own queue
model in process and widens the race window on purpose, so it fails without the fix (see
`test_the_race_is_real_without_the_fix`) and passes with it.

The worker's exactly-once tests on DynamoDB read moto's as DynamoDB's: a committed transaction
stays committed. moto 5.x's TransactWriteItems snapshots the table and, when a condition fails,
puts the snapshot back, undoing a write another request thread made meanwhile; the launcher
serializes DynamoDB requests (moto_server.py). The DynamoDB tests below go through moto's request
handler in process (boto3 under `mock_aws`), one transaction paused mid-way.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.sqs import models

from tests.support import moto_server


@pytest.fixture
def restore_delete() -> Iterator[None]:
    original = models.Queue.delete_message
    yield
    models.Queue.delete_message = original  # type: ignore[method-assign]


def overlapping_deletes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Delete two received messages from two threads, the first one paused mid-delete.

    Returns the bodies still in the queue afterwards (none, if deletes are atomic).
    """
    backend = models.sqs_backends["123456789012"]["us-east-1"]
    name = f"race-{uuid.uuid4().hex[:8]}"
    backend.create_queue(name)
    for body in ("first", "second"):
        backend.send_message(name, body)
    received = backend.receive_message(name, 2, 0, 30)
    handles = {m.body: m.receipt_handle for m in received}
    assert set(handles) == {"first", "second"}

    original_check = models.Message.had_receipt_handle
    paused = threading.Event()
    calls = {"A": 0}

    def slow_check(self: Any, receipt_handle: str) -> bool:
        # Thread "A" dawdles inside delete_message's rebuild loop (its 2nd check: the 1st is the
        # validity check before it), as a loaded machine's scheduler may make it.
        if threading.current_thread().name == "A":
            calls["A"] += 1
            if calls["A"] == 2:
                paused.set()
                time.sleep(0.3)
        return bool(original_check(self, receipt_handle))

    monkeypatch.setattr(models.Message, "had_receipt_handle", slow_check)
    queue = backend.get_queue(name)
    a = threading.Thread(name="A", target=queue.delete_message, args=(handles["first"],))
    b = threading.Thread(name="B", target=queue.delete_message, args=(handles["second"],))
    a.start()
    assert paused.wait(5)
    b.start()
    a.join(10)
    b.join(10)
    return [m.body for m in queue._messages]


def test_overlapping_deletes_both_take_effect(
    monkeypatch: pytest.MonkeyPatch, restore_delete: None
) -> None:
    """With the launcher's fix, two deletes that overlap both remove their message."""
    moto_server.close_the_delete_race()
    assert overlapping_deletes(monkeypatch) == []


def test_the_race_is_real_without_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's own delete brings the other thread's deleted message back: why the fix exists.

    If a moto release fixes this, this test fails: then the launcher's patch can go.
    """
    assert not getattr(models.Queue.delete_message, "_newservice_locked", False)
    assert overlapping_deletes(monkeypatch) == ["second"]


@pytest.fixture
def restore_dynamodb_handler() -> Iterator[None]:
    original = DynamoHandler.call_action
    yield
    DynamoHandler.call_action = original  # type: ignore[method-assign]


def _put(key: str) -> list[dict[str, Any]]:
    item = {"pk": {"S": key}}
    condition = "attribute_not_exists(pk)"
    return [{"Put": {"TableName": "inbox", "Item": item, "ConditionExpression": condition}}]


def commit_during_a_cancelled_transaction(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Thread A's transaction (a duplicate: its condition fails) pauses mid-way; thread B
    commits a new item meanwhile. Returns the keys in the table afterwards."""
    with mock_aws():
        clients = [boto3.client("dynamodb", region_name="us-east-1") for _ in range(3)]
        clients[0].create_table(
            TableName="inbox",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        clients[0].put_item(TableName="inbox", Item={"pk": {"S": "seen"}})
        original_get = DynamoDBBackend.get_item
        paused = threading.Event()

        def slow_get(self: Any, *args: Any, **kwargs: Any) -> Any:
            # A's transaction dawdles between its snapshot and its failed condition, as a loaded
            # machine's scheduler may make it.
            if threading.current_thread().name == "A" and not paused.is_set():
                paused.set()
                time.sleep(0.3)
            return original_get(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, "get_item", slow_get)

        def transact(client: Any, key: str) -> None:
            # A is cancelled (ConditionalCheckFailed), as intended.
            with contextlib.suppress(ClientError):
                client.transact_write_items(TransactItems=_put(key))

        a = threading.Thread(name="A", target=transact, args=(clients[1], "seen"))
        b = threading.Thread(name="B", target=transact, args=(clients[2], "new"))
        a.start()
        assert paused.wait(5)
        b.start()
        a.join(10)
        b.join(10)
        return sorted(item["pk"]["S"] for item in clients[0].scan(TableName="inbox")["Items"])


def test_a_commit_survives_a_concurrent_cancelled_transaction(
    monkeypatch: pytest.MonkeyPatch, restore_dynamodb_handler: None
) -> None:
    """With the launcher's fix (one DynamoDB request at a time), B's commit stays."""
    moto_server.serialize_dynamodb()
    assert commit_during_a_cancelled_transaction(monkeypatch) == ["new", "seen"]


def test_the_transaction_race_is_real_without_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's cancelled transaction puts back its snapshot and erases B's commit: why the fix
    exists. If a moto release fixes this, this test fails: then the launcher's lock can go."""
    assert not getattr(DynamoHandler.call_action, "_newservice_locked", False)
    assert commit_during_a_cancelled_transaction(monkeypatch) == ["seen"]
