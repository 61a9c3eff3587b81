"""Queue work: one queued item in, the right service call, nothing dropped silently.

* ``RetryLater`` (another worker holds the message) re-queues the item with a delay and returns,
  so the wait does not count as a failed attempt.
* Any other failure re-raises so the host retries; on the last allowed attempt the item goes to
  ``<queue>-poison`` with the reason (the Functions host would move only the bare message), and
  the function returns so the host does not poison it a second time.
* Except when the last failure is an outage (Graph throttling or 5xx, a timeout, storage or the
  network unreachable): that says nothing about the item, and poisoning it would lose a message
  or a missed-notification catch-up. The item is queued again with a growing delay, up to
  ``MAX_OUTAGE_REQUEUES`` times (hours of outage), and only then poisoned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from typing import Any

import httpx
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from connectors.graph.errors import GraphApiError
from connectors.service.processing import MessageProcessor, Outcome, RetryLater
from connectors.service.runtime import Runtime
from connectors.service.tenancy import TenantService
from connectors.storage.interfaces import WorkQueue

log = logging.getLogger("tap365.worker")

#: Times an item whose attempts all ended in an outage is queued again (delays 15 s doubling to
#: 15 min: about 11 hours in all) before it is poisoned.
MAX_OUTAGE_REQUEUES = 48
_OUTAGE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def is_outage(exc: BaseException) -> bool:
    """A failure of what the item needs (Graph, storage, the network), not of the item itself."""
    if isinstance(exc, GraphApiError):
        return exc.status in _OUTAGE_STATUSES
    if isinstance(exc, HttpResponseError) and not isinstance(exc, ServiceRequestError | ServiceResponseError):
        return (exc.status_code or 0) in _OUTAGE_STATUSES
    outages = (httpx.TransportError, ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)
    return isinstance(exc, outages)


#: What a queue item may be: a message, a lifecycle event, a detonation, a webhook event, one
#: page of a tenant's onboarding, a tenant's users delta, the second look at a held message, a
#: tenant's push of SIEM events to Sentinel.
ITEM_KINDS = ("message", "lifecycle", "sandbox", "webhook", "onboard", "users_delta", "recheck", "sentinel")


class PoisonMessage(ValueError):
    """An item that can never be processed (not JSON, unknown kind): poisoned at once."""


def parse_item(body: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"queue item is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("kind") not in ITEM_KINDS:
        raise PoisonMessage(f"queue item has no known 'kind' ({', '.join(ITEM_KINDS)})")
    return data


async def handle_item(runtime: Runtime, item: dict[str, Any]) -> Outcome | str:
    if item["kind"] == "sandbox":
        from connectors.service.detonation import run_detonation

        return await run_detonation(runtime, item)
    if item["kind"] == "recheck":
        from connectors.service.holds import run_recheck

        return await run_recheck(runtime, item)
    if item["kind"] == "webhook":
        from connectors.service.webhook import deliver

        return f"webhook: HTTP {await deliver(runtime.settings, dict(item['event']))}"
    if item["kind"] == "sentinel":
        from connectors.siem.sentinel import push_one

        pushed = await asyncio.to_thread(push_one, runtime.stores, runtime.settings, str(item["tenant_id"]))
        return f"sentinel: {pushed.sent} events in {pushed.batches} batches"
    if item["kind"] == "onboard":
        return await TenantService(runtime).onboard_page(item)
    if item["kind"] == "users_delta":
        delta = await TenantService(runtime).users_delta(str(item["tenant_id"]))
        return f"users delta: {len(delta.subscribed)} subscribed, {len(delta.unsubscribed)} unsubscribed"
    if item["kind"] == "message":
        return await MessageProcessor(runtime).process(
            str(item["tenant_id"]), str(item["mailbox"]), str(item["message_id"])
        )
    return await TenantService(runtime).handle_lifecycle(
        str(item["event"]), str(item["subscription_id"]), str(item["tenant_id"]), str(item.get("mailbox", ""))
    )


async def run_queue_item(
    runtime: Runtime, body: bytes | str, dequeue_count: int, queue: WorkQueue, max_dequeue_count: int
) -> Outcome | str | None:
    """Process one queue item under the retry and poison rules above."""
    try:
        item = parse_item(body)
    except PoisonMessage as exc:
        _poison(queue, body, str(exc))
        return None
    try:
        return await handle_item(runtime, item)
    except RetryLater as exc:
        queue.send(item, visibility_timeout=exc.seconds)
        return "retry_later"
    except Exception as exc:
        requeued = int(item.get("outage_requeues") or 0)
        if dequeue_count >= max_dequeue_count and is_outage(exc) and requeued < MAX_OUTAGE_REQUEUES:
            delay = min(900, 15 * 2**min(requeued, 6))
            log.warning("outage on the last attempt (%s); queued again in %d s", type(exc).__name__, delay)
            queue.send({**item, "outage_requeues": requeued + 1}, visibility_timeout=delay)
            return "retry_later"
        if dequeue_count >= max_dequeue_count:
            _poison(
                queue, body, f"{exc.__class__.__name__}: {exc}", traceback.format_exc(limit=5), dequeue_count
            )
            return None
        log.warning(
            "attempt %d of %d failed: %s: %s", dequeue_count, max_dequeue_count, exc.__class__.__name__, exc
        )
        raise


def _poison(
    queue: WorkQueue, body: bytes | str, reason: str, trace: str = "", dequeue_count: int = 0
) -> None:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    queue.poison(text, f"{reason}\n{trace}".strip(), dequeue_count=dequeue_count)
