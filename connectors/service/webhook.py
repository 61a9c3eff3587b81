"""The admin webhook: a signed JSON event for every malicious attachment.

The event says what was found and where to look (tenant, mailbox, message id, sender, subject,
verdict, reasons, SHA-256 of the files), never the content: no body, no attachment bytes, no
secret. ``json.dumps`` escapes the subject and every other string (quotes, control characters,
non-ASCII as ``\\u`` escapes), so a hostile subject cannot break the JSON or a receiver's log.

Delivery is its own delayed queue item (``kind: webhook``): the message's processing only queues
the event and goes on, so a receiver that is down never holds up, fails or repeats the
processing of a message. The queue retries a failed POST with its dequeue count and poisons it
with the reason on the last attempt. The event id is derived from tenant, message and event
type, so a receiver can drop the rare duplicate (a retry that queued the event twice).

The POST goes through the SSRF-safe fetcher (``connectors.fetcher``): public addresses only
unless ``TAP365_SCAN_ALLOW_NETWORKS`` admits a network, metadata addresses never, the vetted
address pinned, no redirect followed, 10 s in all.

Signature: ``X-TAP365-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with
``X-TAP365-Timestamp: <unix seconds>`` when ``TAP365_ADMIN_WEBHOOK_SECRET`` is set; receivers
check it in constant time and refuse old timestamps (replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.settings import Settings
from connectors.storage.interfaces import WorkQueue

log = logging.getLogger("tap365.webhook")
SIGNATURE_HEADER = "X-TAP365-Signature"
TIMESTAMP_HEADER = "X-TAP365-Timestamp"
EVENT_TYPE = "tap365.attachment.malicious"
TIMEOUT_SECONDS = 10.0


class WebhookFailed(RuntimeError):
    """The receiver did not take the event (refused address, network error, non-2xx)."""


def malicious_attachment_event(
    *,
    tenant_id: str,
    mailbox: str,
    message_id: str,
    sender: str,
    subject: str,
    action: str,
    reasons: Sequence[str],
    sha256: Sequence[str],
    internet_message_id: str = "",
) -> dict[str, Any]:
    key = "\n".join((EVENT_TYPE, tenant_id, message_id)).encode()
    return {
        "type": EVENT_TYPE,
        "id": hashlib.sha256(key).hexdigest()[:32],
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "tenant_id": tenant_id,
        "mailbox": mailbox,
        "message_id": message_id,
        "internet_message_id": internet_message_id[:500],
        "sender": sender[:320],
        "subject": subject[:500],
        "verdict": "malicious",
        "action": action,
        "reasons": [str(r)[:500] for r in reasons[:20]],
        "sha256": list(dict.fromkeys(sha256))[:50],
    }


def queue_event(settings: Settings, queue: WorkQueue, event: dict[str, Any]) -> bool:
    """Queue ``event`` for delivery when a webhook is configured. Never raises: the caller is
    processing a message, and a notice that cannot be queued must not fail it (logged)."""
    if not settings.admin_webhook_url:
        return False
    try:
        queue.send({"kind": "webhook", "event": event}, visibility_timeout=0)
    except Exception as exc:  # storage trouble: the message's own work goes on
        log.error("admin webhook event %s not queued: %s: %s", event.get("id"), type(exc).__name__, exc)
        return False
    return True


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def deliver(settings: Settings, event: dict[str, Any], *, timeout: float = TIMEOUT_SECONDS) -> int:
    """POST one event; returns the receiver's status. Raises :class:`WebhookFailed` (the queue
    retries the item) unless the receiver answered 2xx."""
    from connectors.fetcher import SafeFetcher, parse_networks
    from tap_core.click.fetch import FetchError, FetchLimits

    url = settings.admin_webhook_url
    if not url:
        return 0  # switched off since the event was queued
    body = json.dumps(event, ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {TIMESTAMP_HEADER: timestamp, "X-TAP365-Event": str(event.get("type", ""))}
    if settings.admin_webhook_secret:
        headers[SIGNATURE_HEADER] = sign(settings.admin_webhook_secret, timestamp, body)
    allow = parse_networks(_allow_networks())
    limits = FetchLimits(max_redirects=0, max_bytes=64 * 1024, timeout_seconds=timeout)
    fetcher = SafeFetcher(allow_networks=allow, limits=limits)
    try:
        status = await fetcher.post_json(url, body, headers)
    except FetchError as exc:
        raise WebhookFailed(f"admin webhook not delivered: {exc}") from exc
    finally:
        await fetcher.aclose()
    if not 200 <= status < 300:
        raise WebhookFailed(f"admin webhook answered HTTP {status}")
    log.info("admin webhook event %s delivered (HTTP %d)", event.get("id"), status)
    return status


def _allow_networks() -> str:
    # The one allow-list of private networks outbound requests may reach (click_service's).
    from connectors.click_service import ClickSettings

    return ClickSettings().scan_allow_networks
