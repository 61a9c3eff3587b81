"""Campaigns: the messages of a tenant that share a sender, a link's destination, an attachment
hash or a subject fingerprint, and their purge from every mailbox (and release, if it was a
mistake).

Every processed message is indexed under its campaign keys (:func:`campaign_keys`) in the
message index the post-delivery purge reads (``stores.urls``, one table per day; its keys are
whatever the caller indexes): ``sender:<address>``, ``sha256:<hex>`` per attachment and
``subject:<fingerprint>``, beside the URL keys of :func:`connectors.service.purge.index_keys`.
A campaign is one key's messages (:func:`find_campaign`, a bounded read).

:func:`quarantine_copies` moves each copy to the hidden quarantine exactly once (a journal claim
``purge|<mailbox>|<message>|<generation>``, whichever purge or key names it), skipping copies
already quarantined or deleted; the post-delivery purge uses it too. A second request finds the
copies quarantined or their claims done and changes nothing; a copy released since is a new
generation and can be purged again. The purge id (the key's digest) marks the copies a purge
took, so "release the campaign" puts back those and no others.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.graph.errors import GraphApiError
from connectors.service.intake import HttpResult
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import AuditRecord, QuarantineEntry, QuarantineStatus, UrlHit
from tap_core.model.message import Message
from tap_core.urls.intel import url_key

if TYPE_CHECKING:
    from connectors.graph.remediation import Remediator

#: The key families a campaign is found by (the query parameter names of the admin API).
KINDS = ("sender", "url", "host", "domain", "sha256", "subject", "message_id")
#: Messages one campaign read returns at most (the admin API's ``limit`` may lower it).
MAX_CAMPAIGN_MESSAGES = 1000
DEFAULT_CAMPAIGN_MESSAGES = 500
#: Characters of a normalised subject kept in its key (the rest still counts through the digest).
_SUBJECT_KEPT = 200
_NUMBERS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def subject_fingerprint(subject: str) -> str:
    """The subject with case, numbers and whitespace normalised ('' for a blank subject):
    "Invoice 4471  due" and "INVOICE 98 due" are one campaign."""
    text = _SPACE.sub(" ", _NUMBERS.sub("#", subject.casefold())).strip()
    if not text.strip("# "):
        return ""  # nothing but numbers: too weak to group messages by
    if len(text) <= _SUBJECT_KEPT:
        return text
    return f"{text[:_SUBJECT_KEPT]}~{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def message_key(internet_message_id: str) -> str:
    """The key of every copy of one message (its Internet Message-ID, as every recipient's copy
    carries it): what a confirmed report purges. "" when there is none."""
    value = internet_message_id.strip().strip("<>").lower()
    if not value:
        return ""
    kept = value if len(value) <= _SUBJECT_KEPT else hashlib.sha256(value.encode()).hexdigest()
    return f"msgid:{kept}"


def campaign_keys(message: Message) -> list[str]:
    """The message-id, sender, attachment-hash and subject keys ``message`` is indexed under."""
    keys: list[str] = []
    if message.internet_message_id and (copies := message_key(message.internet_message_id)):
        keys.append(copies)
    if message.from_address is not None and message.from_address.address:
        keys.append(f"sender:{message.from_address.address.strip().lower()}")
    for attachment in message.attachments:
        if not attachment.truncated and attachment.data:  # a cut file's hash matches nothing
            keys.append(f"sha256:{hashlib.sha256(attachment.data).hexdigest()}")
    fingerprint = subject_fingerprint(message.subject)
    if fingerprint:
        keys.append(f"subject:{fingerprint}")
    return list(dict.fromkeys(keys))


class CampaignQueryError(ValueError):
    """The campaign asked for is no key (said to the admin as it is)."""


def key_for(kind: str, value: str) -> str:
    """The index key of an admin's query (``sender=...``, ``url=...``, ``subject=...``)."""
    value = value.strip()
    if kind not in KINDS:
        raise CampaignQueryError(f"a campaign is found by one of {', '.join(KINDS)}")
    if not value:
        raise CampaignQueryError(f"{kind} is empty")
    if kind == "sender":
        if "@" not in value:
            raise CampaignQueryError("sender must be an e-mail address")
        return f"sender:{value.lower()}"
    if kind == "url":
        key = url_key(value if "://" in value else f"http://{value}")
        if not key:
            raise CampaignQueryError("url is not a URL")
        return f"url:{key}"
    if kind in ("host", "domain"):
        return f"{kind}:{value.lower().rstrip('.')}"
    if kind == "sha256":
        if not _HEX64.match(value.lower()):
            raise CampaignQueryError("sha256 must be 64 hexadecimal digits")
        return f"sha256:{value.lower()}"
    if kind == "message_id":
        copies = message_key(value)
        if not copies:
            raise CampaignQueryError("message_id is empty")
        return copies
    fingerprint = subject_fingerprint(value)
    if not fingerprint:
        raise CampaignQueryError("subject has nothing but numbers and spaces: too weak to group by")
    return f"subject:{fingerprint}"


def purge_id_of(key: str) -> str:
    """A campaign's purge id: stable, so a repeated purge request is the same purge."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class CampaignMessage:
    mailbox: str
    message_id: str
    delivered_at: datetime
    #: Its quarantine listing's status ("held", "quarantined", "released"...), "" when unlisted.
    status: str = ""
    subject: str = ""
    sender: str = ""
    reason: str = ""


@dataclass
class Campaign:
    key: str
    purge_id: str
    since: datetime
    messages: list[CampaignMessage]
    #: True when the read stopped at its limit: more copies may exist (purge again, or narrow it).
    truncated: bool = False
    limit: int = DEFAULT_CAMPAIGN_MESSAGES

    @property
    def mailboxes(self) -> int:
        return len({m.mailbox for m in self.messages})


def find_campaign(runtime: Runtime, tenant_id: str, key: str, *, limit: int = DEFAULT_CAMPAIGN_MESSAGES,
                  since: datetime | None = None) -> Campaign:
    """The tenant's messages indexed under ``key`` within the purge lookback, newest first."""
    limit = max(1, min(MAX_CAMPAIGN_MESSAGES, limit))
    since = since or datetime.now(UTC) - timedelta(hours=runtime.settings.purge_lookback_hours)
    stores = runtime.stores
    # One more than asked: the extra one says the limit was reached.
    hits = stores.urls.find(tenant_id, [key], since, limit=limit + 1)
    messages: list[CampaignMessage] = []
    for hit in hits[:limit]:
        entry = stores.quarantine.get(tenant_id, hit.mailbox, hit.message_id)
        messages.append(CampaignMessage(
            hit.mailbox, hit.message_id, hit.delivered_at,
            status=entry.status.value if entry else "", subject=entry.subject if entry else "",
            sender=entry.sender if entry else "", reason=entry.reason if entry else "",
        ))
    return Campaign(key, purge_id_of(key), since, messages, truncated=len(hits) > limit, limit=limit)


@dataclass
class PurgeOutcome:
    purge_id: str
    quarantined: list[str] = field(default_factory=list)
    #: Copies left as they are, each with why ("already quarantined", "deleted", "purged before").
    skipped: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


async def quarantine_copies(
    runtime: Runtime,
    tenant_id: str,
    hits: Iterable[UrlHit | CampaignMessage],
    *,
    purge_id: str,
    reason: str,
    actor: str,
    action: str = "campaign_purge",
) -> PurgeOutcome:
    """Every copy in ``hits`` into its mailbox's hidden quarantine, once per message and purge."""
    stores, journal = runtime.stores, runtime.stores.journal
    lease = runtime.settings.claim_lease_seconds
    outcome = PurgeOutcome(purge_id)
    rem = runtime.remediator(tenant_id)
    seen: set[tuple[str, str]] = set()
    bins: dict[str, str] = {}
    for hit in hits:
        mailbox, message_id = hit.mailbox.lower(), hit.message_id
        if (mailbox, message_id) in seen:
            continue
        seen.add((mailbox, message_id))
        target = f"{mailbox}/{message_id}"
        entry = await asyncio.to_thread(stores.quarantine.get, tenant_id, mailbox, message_id)
        if entry is not None and entry.status in (QuarantineStatus.QUARANTINED, QuarantineStatus.DELETED):
            outcome.skipped[target] = f"already {entry.status.value}"
            continue
        # A copy released since an earlier purge is a new generation: it may be purged again.
        generation = (entry.updated_at or entry.at).isoformat() if entry is not None else "new"
        # Per copy, not per purge: two purges naming one copy by different keys move it once.
        claim_key = f"purge|{mailbox}|{message_id}|{generation}"
        claim = await asyncio.to_thread(journal.claim, tenant_id, claim_key, f"purge:{actor}"[:200], lease)
        if claim is None:
            done = await asyncio.to_thread(journal.get, tenant_id, claim_key)
            outcome.skipped[target] = "purged before" if done is not None and done.done else "being purged"
            continue
        try:
            try:
                current = await rem.state(mailbox, message_id)
                if current.folder_id == await _deleted_items(rem, mailbox, bins):
                    outcome.skipped[target] = "deleted"  # by its person: in Deleted Items, left there
                    await asyncio.to_thread(journal.record_step, claim, "done", {"deleted": True})
                    continue
                state = await rem.quarantine(mailbox, message_id, current.folder_id)
            except GraphApiError as exc:
                if exc.status == 404:  # deleted by its person (or an admin): nothing left to purge
                    outcome.skipped[target] = "deleted"
                    await asyncio.to_thread(journal.record_step, claim, "done", {"deleted": True})
                    continue
                outcome.errors.append(f"{target}: {exc.status} {exc.code}")
                await asyncio.to_thread(journal.release, claim)  # the next request tries again
                continue
            now = datetime.now(UTC)
            original = current.folder_id
            subject, sender = (entry.subject, entry.sender) if entry is not None else ("", "")
            if entry is None:  # delivered: its verdict record says what it was
                verdict = await asyncio.to_thread(stores.verdicts.get_verdict, tenant_id, message_id)
                if verdict is not None:
                    subject, sender = verdict.subject, verdict.sender
            if entry is not None and entry.status is QuarantineStatus.HELD:
                original = entry.original_folder_id or original  # held: its home is where it came from
            await asyncio.to_thread(stores.quarantine.put, QuarantineEntry(
                tenant_id=tenant_id, mailbox=mailbox, message_id=message_id, folder_id=state.folder_id,
                original_folder_id=original, reason=f"{reason} [purge {purge_id}]"[:1000], at=now,
                subject=subject, sender=sender,
            ))
            await asyncio.to_thread(stores.audit.append, tenant_id, AuditRecord(
                actor=actor, action=action, target=target, reason=reason[:500], at=now,
                details={"purge_id": purge_id},
            ))
            await asyncio.to_thread(journal.record_step, claim, "done",
                                    {"by": actor, "purge_id": purge_id, "folder_id": state.folder_id})
        except BaseException:
            await asyncio.to_thread(journal.release, claim)
            raise
        outcome.quarantined.append(target)
    return outcome


async def _deleted_items(rem: Remediator, mailbox: str, cache: dict[str, str]) -> str:
    """The id of ``mailbox``'s Deleted Items (one GET per mailbox and purge; '' if unknown)."""
    from connectors.graph.client import seg

    if mailbox not in cache:
        try:
            path = f"/users/{seg(mailbox)}/mailFolders/deleteditems"
            found = await rem.graph.get_json(path, {"$select": "id"})
            cache[mailbox] = str(found.get("id") or "")
        except GraphApiError as exc:
            if exc.status != 404:
                raise
            cache[mailbox] = ""
    return cache[mailbox]


async def purge_campaign(runtime: Runtime, tenant_id: str, key: str, actor: str, *,
                         limit: int = DEFAULT_CAMPAIGN_MESSAGES) -> dict[str, Any]:
    """The admin's "purge this campaign": every copy quarantined once, the action audited."""
    campaign = await asyncio.to_thread(find_campaign, runtime, tenant_id, key, limit=limit)
    outcome = await quarantine_copies(
        runtime, tenant_id, campaign.messages, purge_id=campaign.purge_id,
        reason=f"campaign purge by {actor}: {key}", actor=actor,
    )
    beyond = "; more copies beyond the limit: purge again" if campaign.truncated else ""
    await asyncio.to_thread(runtime.stores.audit.append, tenant_id, AuditRecord(
        actor=actor, action="campaign_purged", target=key[:500],
        reason=f"{len(outcome.quarantined)} quarantined, {len(outcome.skipped)} skipped, "
               f"{len(outcome.errors)} failed{beyond}",
        at=datetime.now(UTC), details={"purge_id": campaign.purge_id, "mailboxes": campaign.mailboxes},
    ))
    return {
        "key": key, "purge_id": campaign.purge_id, "found": len(campaign.messages),
        "mailboxes": campaign.mailboxes, "truncated": campaign.truncated, "limit": campaign.limit,
        "quarantined": outcome.quarantined, "skipped": outcome.skipped, "errors": outcome.errors,
    }


async def release_campaign(runtime: Runtime, tenant_id: str, key: str, actor: str, *,
                           limit: int = DEFAULT_CAMPAIGN_MESSAGES) -> dict[str, Any]:
    """Put back the copies this campaign's purge quarantined (each once, through the admin
    API's release and its journal claim); copies quarantined for other reasons stay."""
    from connectors.service.admin import AdminApi

    campaign = await asyncio.to_thread(find_campaign, runtime, tenant_id, key, limit=limit)
    mark = f"[purge {campaign.purge_id}]"
    api = AdminApi(runtime)
    released: list[str] = []
    skipped: dict[str, str] = {}
    errors: list[str] = []
    for message in campaign.messages:
        target = f"{message.mailbox}/{message.message_id}"
        if message.status != QuarantineStatus.QUARANTINED.value or mark not in message.reason:
            skipped[target] = f"not quarantined by this purge ({message.status or 'delivered'})"
            continue
        result = await api.release(tenant_id, message.mailbox, message.message_id, actor)
        if result.status != 200:
            errors.append(f"{target}: {result.status} {result.body}"[:500])
        elif json.loads(result.body).get("already"):
            skipped[target] = "released before"
        else:
            released.append(target)
    await asyncio.to_thread(runtime.stores.audit.append, tenant_id, AuditRecord(
        actor=actor, action="campaign_released", target=key[:500],
        reason=f"{len(released)} released, {len(skipped)} skipped, {len(errors)} failed",
        at=datetime.now(UTC), details={"purge_id": campaign.purge_id},
    ))
    return {"key": key, "purge_id": campaign.purge_id, "released": released, "skipped": skipped,
            "errors": errors, "truncated": campaign.truncated}


# --- Admin API (``manage/tenants/{tenant}/campaigns...``): the key as a query parameter or JSON body ---


def _json(data: Any, status: int = 200) -> HttpResult:
    from connectors.service.admin import _default

    return HttpResult(status, json.dumps(data, default=_default, ensure_ascii=False))


def _asked(query: dict[str, str], body: bytes = b"") -> tuple[str, int]:
    """The campaign key and the read limit of a request (CampaignQueryError when unclear)."""
    asked = dict(query)
    if body.strip():
        try:
            document = json.loads(body)
        except ValueError:
            raise CampaignQueryError("the body must be a JSON object such as {\"sender\": \"...\"}") from None
        if not isinstance(document, dict):
            raise CampaignQueryError("the body must be a JSON object such as {\"sender\": \"...\"}")
        asked.update({str(k): str(v) for k, v in document.items()})
    given = [kind for kind in KINDS if kind in asked]
    if len(given) != 1:
        raise CampaignQueryError(f"name the campaign by exactly one of {', '.join(KINDS)}")
    try:
        limit = int(asked.get("limit", DEFAULT_CAMPAIGN_MESSAGES))
    except ValueError:
        raise CampaignQueryError("limit must be a whole number") from None
    if not 1 <= limit <= MAX_CAMPAIGN_MESSAGES:
        raise CampaignQueryError(f"limit must be between 1 and {MAX_CAMPAIGN_MESSAGES}")
    return key_for(given[0], asked[given[0]]), limit


async def api_campaign(runtime: Runtime, tenant_id: str, query: dict[str, str]) -> HttpResult:
    """``GET .../campaigns?sender=...``: the campaign's messages, where each copy is now."""
    try:
        key, limit = _asked(query)
    except CampaignQueryError as exc:
        return _json({"error": str(exc)}, 400)
    campaign = await asyncio.to_thread(find_campaign, runtime, tenant_id, key, limit=limit)
    return _json({"key": campaign.key, "purge_id": campaign.purge_id, "since": campaign.since,
                  "mailboxes": campaign.mailboxes, "truncated": campaign.truncated, "limit": campaign.limit,
                  "value": campaign.messages})


async def api_purge(runtime: Runtime, tenant_id: str, query: dict[str, str], body: bytes,
                    actor: str) -> HttpResult:
    """``POST .../campaigns/purge``: every copy quarantined, once each."""
    try:
        key, limit = _asked(query, body)
    except CampaignQueryError as exc:
        return _json({"error": str(exc)}, 400)
    return _json(await purge_campaign(runtime, tenant_id, key, actor, limit=limit))


async def api_release(runtime: Runtime, tenant_id: str, query: dict[str, str], body: bytes,
                      actor: str) -> HttpResult:
    """``POST .../campaigns/release``: the copies its purge quarantined put back, once each."""
    try:
        key, limit = _asked(query, body)
    except CampaignQueryError as exc:
        return _json({"error": str(exc)}, 400)
    return _json(await release_campaign(runtime, tenant_id, key, actor, limit=limit))
