"""The SQS stand-in deletes exactly what it is told to, even when two deletes overlap.

The worker's exactly-once tests on SQS read moto's behaviour as SQS's: a message whose delete
answered 200 must never come back. moto 5.x breaks that when two DeleteMessage requests overlap in
its threaded server (tests/support/moto_server.py says how and where it was seen); the worker's
tests run moto through that launcher, which closes the race. This test drives moto's own queue
model in process and widens the race window on purpose, so it fails without the fix (see
`test_the_race_is_real_without_the_fix`) and passes with it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
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
