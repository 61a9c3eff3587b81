"""The two endpoints Microsoft Graph calls: change notifications and lifecycle events.

No Graph call and no scanning here: validate, enqueue, answer well inside Graph's 3 seconds.
The validation handshake is answered with 200 ``text/plain`` and the decoded token. A
notification whose clientState does not match (constant time) is dropped and counted; when
nothing could be queued the answer is 503 so that Graph retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.graph.notifications import (
    ChangeNotification,
    LifecycleNotification,
    NotificationError,
    parse_notifications,
    validation_token,
)
from connectors.storage.interfaces import ClientStateCheck, Subscription, SubscriptionStore, WorkQueue

log = logging.getLogger("tap365.intake")


@dataclass
class HttpResult:
    status: int
    body: str = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _accepted(
    notifications: list[ChangeNotification | LifecycleNotification], subscriptions: SubscriptionStore
) -> tuple[list, dict[str, int]]:
    accepted = []
    rejected: dict[str, int] = {}
    for note in notifications:
        check, record = subscriptions.authenticate(note.subscription_id, note.client_state)
        if check is not ClientStateCheck.OK:
            rejected[check.name.lower()] = rejected.get(check.name.lower(), 0) + 1
            continue
        if record is None or not note.tenant_id or note.tenant_id.lower() != record.tenant_id.lower():
            rejected["tenant_mismatch"] = rejected.get("tenant_mismatch", 0) + 1
            continue
        accepted.append((note, record))
    return accepted, rejected


def _queue_item(note: ChangeNotification | LifecycleNotification, record: Subscription) -> dict[str, str]:
    if isinstance(note, LifecycleNotification):
        return {
            "kind": "lifecycle",
            "event": note.event,
            "tenant_id": record.tenant_id,
            "subscription_id": note.subscription_id,
            "mailbox": record.mailbox,
        }
    return {
        "kind": "message",
        "tenant_id": record.tenant_id,
        "mailbox": record.mailbox,
        "message_id": note.message_id,
        "subscription_id": note.subscription_id,
        "queued_at": datetime.now(UTC).isoformat(),
    }


def _intake(
    kind: type[ChangeNotification] | type[LifecycleNotification],
    query: Mapping[str, str],
    body: bytes,
    subscriptions: SubscriptionStore,
    queue: WorkQueue,
) -> HttpResult:
    token = validation_token(query)
    if token is not None:
        return HttpResult(200, token, "text/plain")
    try:
        batch = parse_notifications(body)
    except NotificationError as exc:
        return HttpResult(400, json.dumps({"error": str(exc)}))
    accepted, rejected = _accepted([n for n in batch.notifications if isinstance(n, kind)], subscriptions)
    if rejected:
        log.warning("%s rejected: %s", kind.__name__, rejected)  # counts only: no clientState in logs
    queued = 0
    for note, record in accepted:
        try:
            queue.send(_queue_item(note, record))
            queued += 1
        except Exception as exc:  # the queue is down: Graph must retry
            log.error("could not queue a %s: %s", kind.__name__, exc.__class__.__name__)
    if accepted and not queued:
        return HttpResult(503, json.dumps({"error": "could not queue notifications; retry"}))
    if not accepted and rejected.get("unknown_subscription"):
        # A notification can overtake the storing of a new subscription: let Graph retry it.
        return HttpResult(503, json.dumps({"error": "unknown subscription; retry later"}))
    return HttpResult(202, json.dumps({"queued": queued, "rejected": sum(rejected.values())}))


def handle_notifications(
    query: Mapping[str, str], body: bytes, *, subscriptions: SubscriptionStore, queue: WorkQueue
) -> HttpResult:
    return _intake(ChangeNotification, query, body, subscriptions, queue)


def handle_lifecycle(
    query: Mapping[str, str], body: bytes, *, subscriptions: SubscriptionStore, queue: WorkQueue
) -> HttpResult:
    return _intake(LifecycleNotification, query, body, subscriptions, queue)
