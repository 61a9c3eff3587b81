"""An outage on a queue item's last allowed attempt queues it again instead of poisoning it: a
message (or a missed-notification catch-up) is never lost to Graph throttling, 5xx or timeouts;
a failure of the item itself still poisons it, with the reason."""

from __future__ import annotations

import json

import pytest

from connectors.service.worker import run_queue_item
from tests.e2e.processor_harness import ADELE, Service, mail

FETCH = "GET /v1.0/users/{id}/messages/{id}"
LAST_ATTEMPT = 5


def _item(service: Service, message_id: str) -> bytes:
    return json.dumps(
        {"kind": "message", "tenant_id": service.tenant_id, "mailbox": ADELE, "message_id": message_id}
    ).encode()


@pytest.mark.parametrize("status", [429, 503, 504])
def test_an_outage_on_the_last_attempt_queues_the_item_again(service: Service, status: int) -> None:
    delivered = service.deliver(mail(f"outage-{status}@partner.example"))
    queue = service.runtime.stores.notifications
    poisoned = len(queue.peek_poison())
    service.sim.faults(error_rate=1.0, error_status=status, routes=[FETCH])
    outcome = service.run(
        run_queue_item(service.runtime, _item(service, delivered["immutableId"]), LAST_ATTEMPT, queue, LAST_ATTEMPT)
    )
    assert outcome == "retry_later"
    assert len(queue.peek_poison()) == poisoned


def test_a_failure_of_the_item_itself_is_poisoned_on_the_last_attempt(service: Service) -> None:
    delivered = service.deliver(mail("broken@partner.example"))
    queue = service.runtime.stores.notifications
    poisoned = len(queue.peek_poison())
    service.sim.faults(error_rate=1.0, error_status=400, routes=[FETCH])
    body = _item(service, delivered["immutableId"])
    assert service.run(run_queue_item(service.runtime, body, LAST_ATTEMPT, queue, LAST_ATTEMPT)) is None
    last = queue.peek_poison()
    assert len(last) == poisoned + 1 and "400" in last[-1]["reason"]
    # And an outage that lasts past every re-queue is poisoned too, not retried forever.
    service.sim.faults(error_rate=1.0, error_status=503, routes=[FETCH])
    spent = json.dumps({**json.loads(body), "outage_requeues": 48}).encode()
    assert service.run(run_queue_item(service.runtime, spent, LAST_ATTEMPT, queue, LAST_ATTEMPT)) is None
    assert len(queue.peek_poison()) == poisoned + 2
