"""Queues against Azurite: base64 for the Functions trigger, delayed visibility, poison queue."""

from __future__ import annotations

import base64
import json
import time

import pytest
from azure.storage.queue import QueueClient

from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from connectors.storage.interfaces import WorkQueue
from connectors.storage.queues import StorageQueue


def test_protocol(stores: AzureStores) -> None:
    assert isinstance(stores.notifications, WorkQueue)


def test_messages_are_base64_as_the_functions_trigger_expects(
    stores: AzureStores, storage_config: StorageConfig
) -> None:
    payload = {"subscriptionId": "s1", "resource": "users/a/messages/AAMk=", "text": "héllo"}
    stores.notifications.send(payload)
    raw = QueueClient.from_connection_string(
        storage_config.connection_string.get_secret_value(), stores.notifications.name  # type: ignore[union-attr]
    ).peek_messages()[0].content
    assert json.loads(base64.b64decode(raw).decode()) == payload
    [item] = stores.notifications.receive()
    assert json.loads(item.content) == payload and item.dequeue_count == 1
    stores.notifications.delete(item)
    assert stores.notifications.receive() == []


def test_visibility_timeout_delays_a_message(stores: AzureStores) -> None:
    stores.delayed.send({"poll": "sandbox-job-1"}, visibility_timeout=2)
    assert stores.delayed.receive() == []
    time.sleep(2.5)
    [item] = stores.delayed.receive()
    assert json.loads(item.content) == {"poll": "sandbox-job-1"}
    # Poll again later: postpone instead of re-sending keeps one message.
    item = stores.delayed.postpone(item, 1, content=json.dumps({"poll": "sandbox-job-1", "n": 2}))
    assert stores.delayed.receive() == []
    time.sleep(1.5)
    [again] = stores.delayed.receive()
    assert json.loads(again.content)["n"] == 2 and again.dequeue_count == 2


def test_failures_go_to_poison_after_max_dequeue_count(
    stores: AzureStores, storage_config: StorageConfig
) -> None:
    queue = StorageQueue(storage_config.queue_service(), "work-items", max_dequeue_count=3)
    queue.ensure()
    queue.send("job-1")
    poisoned = []
    for attempt in range(1, 4):
        [item] = queue.receive()
        assert item.dequeue_count == attempt
        poisoned.append(queue.fail(item, f"Graph answered 500 (attempt {attempt})"))
    assert poisoned == [False, False, True]
    assert queue.receive() == []
    [envelope] = queue.peek_poison()
    assert envelope["content"] == "job-1" and envelope["queue"] == "work-items"
    assert envelope["reason"] == "Graph answered 500 (attempt 3)" and envelope["dequeue_count"] == 3


def test_crashing_processor_is_poisoned_on_receive(
    stores: AzureStores, storage_config: StorageConfig
) -> None:
    queue = StorageQueue(storage_config.queue_service(), "crashy", max_dequeue_count=2)
    queue.ensure()
    queue.send(b"job-2")
    for _ in range(2):  # received, never deleted: the visibility timeout brings it back
        assert len(queue.receive(visibility_timeout=1)) == 1
        time.sleep(1.2)
    assert queue.receive(visibility_timeout=1) == []
    [envelope] = queue.peek_poison()
    assert envelope["content"] == "job-2" and "without completing" in envelope["reason"]


def test_validation(stores: AzureStores, storage_config: StorageConfig) -> None:
    with pytest.raises(ValueError, match="invalid"):
        StorageQueue(storage_config.queue_service(), "Bad_Name")
    with pytest.raises(ValueError, match="too large"):
        stores.notifications.send("x" * 60_000)
    with pytest.raises(ValueError, match="7 days"):
        stores.delayed.send("x", visibility_timeout=8 * 24 * 3600)
