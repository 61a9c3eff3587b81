"""The daily digest: one mail a day to each person listing what was held or quarantined for them
in the last 24 hours (subject, sender, when, why in one line), each with a signed, expiring
"request release" link (connectors/service/release_requests.py). Nobody with nothing listed gets
a mail; a tenant's policy can turn digests off (``notices.daily_digest``).

Once per person and UTC day: the digest is recorded (``<p>requests``, row ``d|<day>|<mailbox>``)
before it is sent, insert-if-absent, so a rerun of the timer or a second instance sends nothing
twice. A crash between the record and the send loses that day's digest rather than doubling it,
as the hold notices do (connectors/service/holds.py).
"""

from __future__ import annotations

import html
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.graph.errors import GraphApiError
from connectors.service.notices import send_notice
from connectors.service.release_requests import link_expiry, request_url, sign_link
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import QuarantineEntry, QuarantineStatus

log = logging.getLogger("tap365.digests")

#: The window a digest covers.
DIGEST_HOURS = 24
#: Quarantine entries of one tenant read for one day's digests at most; reaching it is logged
#: (the people whose mail lies beyond it get no digest that day).
DIGEST_SCAN_LIMIT = 20_000
_LISTED = (QuarantineStatus.HELD, QuarantineStatus.QUARANTINED)


@dataclass
class DigestRun:
    sent: int = 0
    #: People whose digest of the day had been sent before (a rerun, another instance).
    already: int = 0
    failed: int = 0
    tenants_off: list[str] = field(default_factory=list)


async def send_digests(runtime: Runtime, *, now: datetime | None = None) -> DigestRun:
    """Every tenant's digests of today (UTC). Returns what was done."""
    run = DigestRun()
    sender = runtime.settings.admin_notify_from
    if not sender:
        log.warning("no daily digests: set TAP365_ADMIN_NOTIFY_FROM (the mailbox they are sent from)")
        return run
    now = now or datetime.now(UTC)
    for tenant in runtime.stores.tenants.list_tenants():
        if tenant.status == "offboarded":
            continue
        notices = runtime.policy(tenant.tenant_id)[0].notices
        if not notices.daily_digest:
            run.tenants_off.append(tenant.tenant_id)
            continue
        await _tenant_digests(runtime, tenant.tenant_id, sender, now, run)
    return run


async def _tenant_digests(
    runtime: Runtime, tenant_id: str, sender: str, now: datetime, run: DigestRun
) -> None:
    stores = runtime.stores
    notices = runtime.policy(tenant_id)[0].notices
    since = now - timedelta(hours=DIGEST_HOURS)
    entries = stores.quarantine.list(tenant_id, since=since, limit=DIGEST_SCAN_LIMIT)
    if len(entries) >= DIGEST_SCAN_LIMIT:
        log.warning("tenant %s: more than %d messages kept in a day; digests cover the newest %d",
                    tenant_id, DIGEST_SCAN_LIMIT, DIGEST_SCAN_LIMIT)
    by_person: dict[str, list[QuarantineEntry]] = defaultdict(list)
    for entry in entries:
        # Our own notices held by our own pipeline (a digest quoting lures reads as one) are not
        # listed: else each day's held digest would be listed in the next one.
        if entry.sender.strip().lower() == sender.strip().lower():
            continue
        if entry.status in _LISTED and entry.at <= now:
            by_person[entry.mailbox.lower()].append(entry)
    expires = link_expiry(now, notices.release_link_days)
    for mailbox, kept in sorted(by_person.items()):
        listed = kept[: notices.digest_max_messages]
        ids = [e.message_id for e in listed]
        if not stores.requests.mark_digest(tenant_id, mailbox, now.date(), ids, now=now):
            run.already += 1
            continue
        links = [
            request_url(runtime, sign_link(runtime.codec.keyring, tenant_id, mailbox, e.message_id, expires))
            for e in listed
        ]
        subject = f"TAP365: {len(kept)} message(s) for you held in the last day"
        try:
            await send_notice(runtime, tenant_id, [mailbox], subject,
                              digest_body(listed, links, len(kept) - len(listed), expires))
        except GraphApiError as exc:  # recorded already: lost for today rather than sent twice
            log.warning("digest for %s not sent: %s %s", mailbox, exc.status, exc.code)
            run.failed += 1
            continue
        except Exception:  # one person's trouble (a dropped connection) must not stop the others
            log.exception("digest for %s not sent", mailbox)
            run.failed += 1
            continue
        run.sent += 1


def _one_line(reason: str) -> str:
    return " ".join(reason.split("; ")[0].split())[:200]


def digest_body(
    entries: Sequence[QuarantineEntry], links: Sequence[str], more: int, expires: datetime
) -> str:
    """The digest's HTML: every text escaped; the only links are the request links (nothing
    links to the message or to anything it contains)."""
    rows = "".join(
        f"<tr><td>{html.escape(e.at.strftime('%Y-%m-%d %H:%M'))} UTC</td><td>{html.escape(e.sender)}</td>"
        f"<td>{html.escape(e.subject) or '(no subject)'}</td><td>{html.escape(_one_line(e.reason))}</td>"
        f'<td><a href="{html.escape(link)}">Request release</a></td></tr>'
        for e, link in zip(entries, links, strict=True)
    )
    beyond = (f"<p>And {more} more message(s); your administrator can see them all.</p>" if more > 0 else "")
    return (
        "<p>These messages for you were held or quarantined in the last day and are not in your "
        "mailbox. If you expected one, request its release; an administrator decides.</p>"
        "<table><tr><th>When</th><th>From</th><th>Subject</th><th>Why</th><th></th></tr>"
        f"{rows}</table>{beyond}"
        f"<p>The links work until {html.escape(expires.strftime('%Y-%m-%d %H:%M'))} UTC and only for you "
        "(you sign in). Do not ask the senders to send the messages again.</p>"
    )
