"""Queue triggers against a real Azurite: success, retry, poison queue, base64 handling."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from azure.storage.queue import QueueClient

from connectors.localhost.host import LocalHost
from tests.localhost.conftest import read_records, wait_for
from tests.storage.azurite import Azurite


def _queue(azurite_instance: Azurite, name: str) -> QueueClient:
    return QueueClient.from_connection_string(azurite_instance.connection_string, name)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_successful_message_is_processed_and_deleted(sample_host: LocalHost, azurite_instance: Azurite,
                                                     out_dir: Path) -> None:
    body = f"hello {uuid.uuid4()}"
    queue = _queue(azurite_instance, "sample-ok")
    queue.send_message(_b64(body))
    record = wait_for(lambda: [r for r in read_records(out_dir, "queue_ok") if r["body"] == body])[0]
    assert record["dequeue_count"] == 1 and record["has_insertion_time"] and record["id"]
    wait_for(lambda: queue.get_queue_properties().approximate_message_count == 0)


def test_text_that_is_not_base64_is_passed_as_is(sample_host: LocalHost, azurite_instance: Azurite,
                                                  out_dir: Path) -> None:
    body = f"plain text, not base64! {uuid.uuid4()}"
    _queue(azurite_instance, "sample-ok").send_message(body)
    wait_for(lambda: [r for r in read_records(out_dir, "queue_ok") if r["body"] == body])


def test_failure_then_success_retries_with_dequeue_count_two(sample_host: LocalHost, azurite_instance: Azurite,
                                                             out_dir: Path) -> None:
    body = f"flaky {uuid.uuid4()}"
    _queue(azurite_instance, "sample-flaky").send_message(_b64(body))
    runs = wait_for(lambda: [r for r in read_records(out_dir, "queue_flaky") if r["body"] == body][1:] and
                    [r for r in read_records(out_dir, "queue_flaky") if r["body"] == body])
    assert [r["dequeue_count"] for r in runs] == [1, 2]
    poison = _queue(azurite_instance, "sample-flaky-poison")
    assert poison.get_queue_properties().approximate_message_count == 0


def test_always_failing_message_goes_to_poison_queue_with_original_body(
    sample_host: LocalHost, azurite_instance: Azurite, out_dir: Path
) -> None:
    body = f"bad {uuid.uuid4()}"
    original = _b64(body)
    _queue(azurite_instance, "sample-bad").send_message(original)
    poison = _queue(azurite_instance, "sample-bad-poison")

    def poisoned() -> list[str]:
        return [m.content for m in poison.peek_messages(max_messages=32) if m.content == original]

    assert wait_for(poisoned) == [original]
    runs = [r for r in read_records(out_dir, "queue_bad") if r["body"] == body]
    assert [r["dequeue_count"] for r in runs] == [1, 2, 3]  # maxDequeueCount 3 in the sample host.json
    wait_for(lambda: _queue(azurite_instance, "sample-bad").get_queue_properties().approximate_message_count == 0)
