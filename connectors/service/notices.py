"""The service's own mail: notices to people and admins (held messages, digests, the outcome of a
release request, malicious attachments, overdue holds), and how the service knows them again.

A notice quotes what it is about: the subjects and senders of lures. Run through the pipeline
like any mail, a digest of phishing subjects is itself held, so the person never learns what was
kept from them. Every notice therefore carries ``X-TAP365-Notice``: the key id, the day it was
sent and an HMAC (the link key ring) over the tenant, that day, the recipients and the subject.
A message is the service's own only when that header verifies *and* it comes from
``TAP365_ADMIN_NOTIFY_FROM``; the processor then leaves it as it is. A copied header verifies for
no other subject, recipient or tenant, and for three days at most.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from tap_core.model.message import Message
from tap_core.urls.links import LinkKeyring, b64url_decode, b64url_encode

if TYPE_CHECKING:
    from connectors.service.runtime import Runtime

log = logging.getLogger("tap365.notices")

NOTICE_HEADER = "X-TAP365-Notice"
#: How long a notice's header verifies after the day it was sent (mail is delivered late).
VALID_DAYS = 3


def _digest(
    keyring: LinkKeyring, kid: str, tenant_id: str, day: str, to: Sequence[str], subject: str
) -> bytes:
    recipients = ",".join(sorted({a.strip().lower() for a in to if a.strip()}))
    payload = "\n".join(("tap365-notice-v1", tenant_id.lower(), day, recipients, subject.strip()))
    return keyring.mac(kid, payload.encode("utf-8"))


def notice_header(keyring: LinkKeyring, tenant_id: str, to: Sequence[str], subject: str,
                  today: date | None = None) -> str:
    """The ``X-TAP365-Notice`` value of a notice to ``to`` with ``subject``."""
    day = (today or datetime.now(UTC).date()).isoformat()
    mac = _digest(keyring, keyring.current, tenant_id, day, to, subject)
    return f"{keyring.current}.{day}.{b64url_encode(mac)}"


def is_own_notice(keyring: LinkKeyring, tenant_id: str, message: Message, notify_from: str,
                  now: datetime | None = None) -> bool:
    """True when ``message`` is a notice this service sent: from ``notify_from``, with a header
    that verifies for its tenant, recipients and subject within :data:`VALID_DAYS`."""
    value = message.header(NOTICE_HEADER)
    sender = message.from_address.address.lower() if message.from_address else ""
    if not value or not notify_from or sender != notify_from.strip().lower():
        return False
    kid, _, rest = value.strip().partition(".")
    day, _, mac = rest.partition(".")
    try:
        sent = date.fromisoformat(day)
        given = b64url_decode(mac)
        expected = _digest(keyring, kid, tenant_id, day, [a.address for a in message.to], message.subject)
    except (ValueError, KeyError):  # a malformed header, an unknown key id
        return False
    today = (now or datetime.now(UTC)).date()
    if not timedelta(0) <= today - sent <= timedelta(days=VALID_DAYS):
        return False
    return hmac.compare_digest(given, expected)


async def send_notice(runtime: Runtime, tenant_id: str, to: Sequence[str], subject: str, html: str) -> None:
    """Send a notice from ``TAP365_ADMIN_NOTIFY_FROM`` (the caller checked it is set), marked so
    that the service delivers it untouched."""
    header = notice_header(runtime.codec.keyring, tenant_id, to, subject)
    await runtime.remediator(tenant_id).send_mail(
        runtime.settings.admin_notify_from, to, subject, html, headers={NOTICE_HEADER: header}
    )


__all__ = ["NOTICE_HEADER", "is_own_notice", "notice_header", "send_notice"]
