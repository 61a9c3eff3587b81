"""The two endpoints Microsoft Graph calls: change notifications and lifecycle events.

No Graph call and no scanning here: validate, enqueue, answer well inside Graph's 3 seconds.
The validation handshake is answered with 200 ``text/plain`` (``nosniff``) and the decoded
token. A notification whose clientState does not match (constant time) is dropped and counted;
when nothing could be queued the answer is 503 so that Graph retries. What an anonymous POST may
cost is bounded (:class:`IntakeLimits`): body size, notification count, one store read per
distinct subscription id, and no more reads after a few unknown ids.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.graph.notifications import (
    ChangeNotification,
    LifecycleNotification,
    NotificationError,
    NotificationLimitError,
    parse_notifications,
    validation_token,
)
from connectors.settings import Settings
from connectors.storage.interfaces import ClientStateCheck, Subscription, SubscriptionStore, WorkQueue

log = logging.getLogger("tap365.intake")


@dataclass
class HttpResult:
    status: int
    body: str = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    """What one POST from Graph may cost us (``TAP365_NOTIFICATION_*``; see Settings).

    Graph documents no batch size; it batches the notifications of every subscription that shares
    our URL into one POST, and what it sends is small (a basic notification is about 600 bytes;
    rich ones carry encrypted resource data). The defaults leave room far above that and still
    bound an anonymous caller: the body size and count are checked before anything is read from
    storage, each distinct subscription id costs one read, and after ``max_unknown`` ids that no
    subscription has, nothing more is read."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_notifications: int = 1000
    max_unknown: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeLimits:
        return cls(settings.notification_max_body_bytes, settings.notification_max_per_request,
                   settings.notification_max_unknown)


@dataclass
class _Checked:
    """The outcome of the one store read for a subscription id, in one request."""

    client_state: str
    check: ClientStateCheck
    record: Subscription | None


def _accepted(
    notifications: list[ChangeNotification | LifecycleNotification],
    subscriptions: SubscriptionStore,
    limits: IntakeLimits,
) -> tuple[list[tuple[ChangeNotification | LifecycleNotification, Subscription]], dict[str, int]]:
    accepted = []
    rejected: dict[str, int] = {}
    checked: dict[str, _Checked] = {}
    unknown = 0
    for note in notifications:
        seen = checked.get(note.subscription_id)
        if seen is None:
            if unknown >= limits.max_unknown:
                # Enough ids nobody subscribed: the rest of the request is not worth a read.
                rejected["unchecked"] = rejected.get("unchecked", 0) + 1
                continue
            check, record = subscriptions.authenticate(note.subscription_id, note.client_state)
            seen = checked[note.subscription_id] = _Checked(note.client_state, check, record)
            unknown += check is ClientStateCheck.UNKNOWN_SUBSCRIPTION
        check = seen.check
        if check is ClientStateCheck.OK and not hmac.compare_digest(
            seen.client_state.encode(), note.client_state.encode()
        ):
            check = ClientStateCheck.MISMATCH  # Graph sends one clientState per subscription
        if check is not ClientStateCheck.OK:
            rejected[check.name.lower()] = rejected.get(check.name.lower(), 0) + 1
            continue
        record = seen.record
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


def handshake_result(token: str) -> HttpResult:
    """Graph's validation handshake: the decoded token back, as plain text that no browser may
    sniff into HTML (the token is whatever the caller put in the URL)."""
    return HttpResult(200, token, "text/plain", {"X-Content-Type-Options": "nosniff"})


def _intake(
    kind: type[ChangeNotification] | type[LifecycleNotification],
    query: Mapping[str, str],
    body: bytes,
    subscriptions: SubscriptionStore,
    queue: WorkQueue,
    limits: IntakeLimits,
) -> HttpResult:
    token = validation_token(query)
    if token is not None:
        return handshake_result(token)
    if len(body) > limits.max_body_bytes:
        return HttpResult(413, json.dumps({"error": f"body over {limits.max_body_bytes} bytes"}))
    try:
        batch = parse_notifications(body, max_notifications=limits.max_notifications)
    except NotificationLimitError as exc:
        return HttpResult(413, json.dumps({"error": str(exc)}))
    except NotificationError as exc:
        return HttpResult(400, json.dumps({"error": str(exc)}))
    try:
        accepted, rejected = _accepted(
            [n for n in batch.notifications if isinstance(n, kind)], subscriptions, limits)
    except Exception as exc:  # the store is down: nothing is queued yet, so Graph may retry it all
        log.error("could not check %s subscriptions: %s", kind.__name__, exc.__class__.__name__)
        return HttpResult(503, json.dumps({"error": "could not check subscriptions; retry"}))
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
    if not accepted and set(rejected) == {"unknown_subscription"}:
        # A notification can overtake the storing of a new subscription: let Graph retry it. Only
        # when every id was unknown and each was read (a flood is past max_unknown: no retry).
        return HttpResult(503, json.dumps({"error": "unknown subscription; retry later"}))
    return HttpResult(202, json.dumps({"queued": queued, "rejected": sum(rejected.values())}))


def handle_notifications(
    query: Mapping[str, str], body: bytes, *, subscriptions: SubscriptionStore, queue: WorkQueue,
    limits: IntakeLimits | None = None,
) -> HttpResult:
    return _intake(ChangeNotification, query, body, subscriptions, queue, limits or IntakeLimits())


def handle_lifecycle(
    query: Mapping[str, str], body: bytes, *, subscriptions: SubscriptionStore, queue: WorkQueue,
    limits: IntakeLimits | None = None,
) -> HttpResult:
    return _intake(LifecycleNotification, query, body, subscriptions, queue, limits or IntakeLimits())
