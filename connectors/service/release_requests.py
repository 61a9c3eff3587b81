"""Release requests: a person asks for a held message back through the signed link of their
daily digest; an admin approves (the message is released through the admin release path) or
denies; the person is told the outcome by mail. A tenant's policy may let people release
SUSPICIOUS mail themselves (``notices.self_release_suspicious``); MALICIOUS mail never.

Links (``/api/console/request?t=<token>``) carry ``kid.payload.mac``: the payload names the
tenant, the mailbox, the message and the expiry, encrypted (AES-GCM under the key ring's link
context key) so that neither the address nor the message id shows in the URL -- a link carrying
its reader's address is what phishing kits do, and our own pipeline flags it
(``recipient_in_link``); the MAC is HMAC-SHA256 under the service's link key ring
(``connectors/keys.py``) over a context of its own, so neither a redirector link nor a console
CSRF token can pass for one. A link only says which message may be asked for: the person still
signs in, and their tenant and name are checked against it.

Every request, decision and release is audited with the person's name. Each decision is taken
once: the stored request moves out of "pending" conditionally (ETag), so of two admins clicking
at once one decides and the other is told it was decided.
"""

from __future__ import annotations

import binascii
import hmac
import html
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from cryptography.exceptions import InvalidTag

from connectors.graph.errors import GraphApiError
from connectors.service.notices import send_notice
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import AuditRecord, ConcurrencyError, QuarantineEntry, QuarantineStatus
from connectors.storage.release_requests import MAX_REASON_CHARS, ReleaseRequest, RequestStatus
from tap_core.urls.links import LinkKeyring, b64url_decode, b64url_encode

log = logging.getLogger("tap365.requests")

_CONTEXT = b"tap365 release request v1"
#: Longest link token read; longer ones are refused unread (real ones are a few hundred).
MAX_TOKEN_CHARS = 4096
#: Where the person follows a digest's link (the console's request page).
REQUEST_PATH = "/api/console/request"
#: Statuses a message can be asked back from.
_RELEASABLE = (QuarantineStatus.HELD, QuarantineStatus.QUARANTINED)


class RequestRefused(Exception):
    """The link or the action cannot be served; ``status`` is the HTTP answer, ``title`` and
    ``detail`` the page's words (plain text: the page escapes them)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


# -- signed links ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestLink:
    tenant_id: str
    mailbox: str
    message_id: str
    expires_at: datetime


def _mac(keyring: LinkKeyring, kid: str, payload: str) -> bytes:
    return keyring.mac(kid, _CONTEXT + b"|" + kid.encode() + b"|" + payload.encode())


def sign_link(
    keyring: LinkKeyring, tenant_id: str, mailbox: str, message_id: str, expires_at: datetime
) -> str:
    """The token of a "request release" link, signed with the key ring's current key."""
    plain = json.dumps(
        [tenant_id.lower(), mailbox.lower(), message_id, int(expires_at.timestamp())],
        separators=(",", ":"), ensure_ascii=False,
    ).encode()
    kid = keyring.current
    nonce = os.urandom(12)
    payload = b64url_encode(nonce + keyring.aead(kid).encrypt(nonce, plain, _CONTEXT + kid.encode()))
    return f"{kid}.{payload}.{b64url_encode(_mac(keyring, kid, payload))}"


_FORGED = RequestRefused(
    400, "Link not valid",
    "This release link is not one we issued, or it was changed. Use the link in your digest mail as it "
    "is, or ask your administrator.",
)


def verify_link(keyring: LinkKeyring, token: str, *, now: datetime | None = None) -> RequestLink:
    """The link's content when it is ours, unaltered and unexpired; else :class:`RequestRefused`
    (400 for a forged, altered or garbled link, 410 for an expired one)."""
    parts = token.split(".") if 0 < len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 3 or keyring.key(parts[0]) is None:
        raise _FORGED
    kid, payload, mac = parts
    # The MAC's text, not its decoded bytes: base64 decoding skips stray characters, and a link
    # changed in any character is refused.
    if not hmac.compare_digest(mac.encode(), b64url_encode(_mac(keyring, kid, payload)).encode()):
        raise _FORGED
    try:  # signed by us: a failure here is our own bug, still answered as a bad link
        raw = b64url_decode(payload)
        plain = keyring.aead(kid).decrypt(raw[:12], raw[12:], _CONTEXT + kid.encode())
        tenant_id, mailbox, message_id, expires = json.loads(plain)
        expires_at = datetime.fromtimestamp(int(expires), UTC)
    except (binascii.Error, ValueError, TypeError, OverflowError, OSError, InvalidTag):
        raise _FORGED from None
    if (now or datetime.now(UTC)) >= expires_at:
        raise RequestRefused(
            410, "Link expired",
            f"This release link expired on {expires_at:%Y-%m-%d %H:%M} UTC. Ask your administrator to "
            "release the message, or wait for your next digest.",
        )
    return RequestLink(str(tenant_id), str(mailbox), str(message_id), expires_at)


def request_url(runtime: Runtime, token: str) -> str:
    return f"{runtime.public_base_url}{REQUEST_PATH}?t={quote(token, safe='')}"


# -- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Asker:
    """Who is asking, as the console signed them in: their tenant comes from their sign-in,
    never from a URL."""

    upn: str
    tenant_id: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class LinkView:
    """What the request page shows for a valid link."""

    link: RequestLink
    entry: QuarantineEntry
    #: The message's verdict as recorded when it was decided ("" when no record is left).
    verdict: str
    findings: tuple[str, ...]
    existing: ReleaseRequest | None
    #: Confirming releases the message at once (policy allows it and it is SUSPICIOUS).
    self_release: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    request: ReleaseRequest
    #: The request was stored by this call (False: the message had been asked for before).
    created: bool
    released: bool
    #: Words for the person or the admin (plain text).
    message: str
    #: The person was told the outcome by mail.
    told: bool = False


class ReleaseRequests:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stores = runtime.stores

    def open_link(self, asker: Asker, token: str, *, now: datetime | None = None) -> LinkView:
        """Check the link and that ``asker`` may use it (their own mailbox, or an admin of the
        same tenant); the message's summary from the asker's tenant."""
        link = verify_link(self.runtime.codec.keyring, token, now=now)
        if link.tenant_id != asker.tenant_id.lower():
            raise RequestRefused(403, "Not your organisation's message",
                                 "This link is for a message in another organisation.")
        if asker.upn.lower() != link.mailbox and not asker.is_admin:
            raise RequestRefused(403, "Not your message",
                                 "This link is for a message sent to someone else. Sign in as that person.")
        entry = self.stores.quarantine.get(asker.tenant_id, link.mailbox, link.message_id)
        if entry is None:
            raise RequestRefused(404, "Message not found",
                                 "The message is no longer kept (deleted, or kept for longer than allowed).")
        verdict, findings = self.verdict_of(asker.tenant_id, link.mailbox, link.message_id)
        policy = self.runtime.policy(asker.tenant_id)[0].notices
        return LinkView(
            link=link, entry=entry, verdict=verdict, findings=findings,
            existing=self.stores.requests.get(asker.tenant_id, link.mailbox, link.message_id),
            self_release=can_self_release(policy.self_release_suspicious, verdict, entry),
        )

    async def submit(
        self, asker: Asker, token: str, reason: str = "", *, now: datetime | None = None
    ) -> Outcome:
        """The person confirmed: store the request (once per message) and audit it; when the
        policy lets them release SUSPICIOUS mail themselves and this is such, release it now."""
        reason = reason.strip()
        if len(reason) > MAX_REASON_CHARS:
            raise RequestRefused(400, "Reason too long",
                                 f"Please keep the reason under {MAX_REASON_CHARS} characters.")
        view = self.open_link(asker, token, now=now)
        entry, tenant_id = view.entry, asker.tenant_id
        if entry.status not in _RELEASABLE:
            raise RequestRefused(409, "Not held any more",
                                 f"The message was {entry.status.value} already: nothing to ask for.")
        at = now or datetime.now(UTC)
        request, created = self.stores.requests.create(ReleaseRequest(
            tenant_id=tenant_id, mailbox=entry.mailbox, message_id=entry.message_id,
            requested_by=asker.upn, requested_at=at, reason=reason, subject=entry.subject,
            sender=entry.sender, verdict=view.verdict,
        ))
        if created:
            self._audit(tenant_id, asker.upn, "release_requested", entry, reason or "no reason given")
        if view.self_release and request.status is RequestStatus.PENDING:
            return await self._self_release(asker, request, created)
        if request.status is RequestStatus.PENDING:
            text = ("Your request was sent to your administrator." if created else
                    "This message was asked for already; the request is waiting for an administrator.")
        else:
            state = request.status.value.replace("_", " ")
            text = f"This message was asked for already; the request was {state}."
        return Outcome(request, created, False, text)

    async def _self_release(self, asker: Asker, request: ReleaseRequest, created: bool) -> Outcome:
        tenant_id, mailbox, message_id = asker.tenant_id, request.mailbox, request.message_id
        try:
            request = self.stores.requests.decide(tenant_id, mailbox, message_id, RequestStatus.SELF_RELEASED,
                                                  by=asker.upn, reason="released by the person (policy)")
        except ConcurrencyError:  # an admin decided meanwhile: that decision stands
            current = self.stores.requests.get(tenant_id, mailbox, message_id) or request
            return Outcome(current, created, False, f"The request was {current.status.value} meanwhile.")
        error = await self._release(tenant_id, mailbox, message_id, asker.upn)
        if error:
            request = self._reopen(request, asker.upn, error)
            return Outcome(request, created, False,
                           f"The message could not be released now ({error}); "
                           "the request waits for an administrator.")
        return Outcome(request, created, True, "The message was released to your Inbox.")

    async def approve(self, asker: Asker, mailbox: str, message_id: str) -> Outcome:
        """An admin approves: the message is released through the admin release path, once."""
        self._require_admin(asker)
        entry = self.stores.quarantine.get(asker.tenant_id, mailbox, message_id)
        if entry is None or entry.status is QuarantineStatus.DELETED:
            raise RequestRefused(409, "Message deleted", "The message was deleted, so it cannot be released. "
                                 "Deny the request to tell the person.")
        request = self._decide(asker, mailbox, message_id, RequestStatus.APPROVED, "approved")
        error = await self._release(asker.tenant_id, request.mailbox, message_id, asker.upn)
        if error:
            self._reopen(request, asker.upn, error)
            raise RequestRefused(502, "Not released", f"The message could not be released: {error}. "
                                 "The request is pending again; try later.")
        self._audit(asker.tenant_id, asker.upn, "release_request_approved", request, request.reason)
        told = await self._tell(request, approved=True)
        return Outcome(request, False, True, "Released" + ("; the person was told." if told else "."), told)

    async def deny(self, asker: Asker, mailbox: str, message_id: str, reason: str) -> Outcome:
        self._require_admin(asker)
        reason = reason.strip()
        if not reason:
            raise RequestRefused(400, "Reason needed", "Say why the request is denied; the person is told.")
        if len(reason) > MAX_REASON_CHARS:
            raise RequestRefused(400, "Reason too long",
                                 f"Keep the reason under {MAX_REASON_CHARS} characters.")
        request = self._decide(asker, mailbox, message_id, RequestStatus.DENIED, reason)
        self._audit(asker.tenant_id, asker.upn, "release_request_denied", request, reason)
        told = await self._tell(request, approved=False)
        return Outcome(request, False, False, "Denied" + ("; the person was told." if told else "."), told)

    def verdict_of(self, tenant_id: str, mailbox: str, message_id: str) -> tuple[str, tuple[str, ...]]:
        """The message's recorded verdict and its findings ("name: reason"); ("", ()) without a
        record for this mailbox."""
        record = self.stores.verdicts.get_verdict(tenant_id, message_id)
        if record is None or (record.mailbox and record.mailbox.lower() != mailbox.lower()):
            return "", ()  # a verdict for the same id in another mailbox says nothing of this one
        found = record.details.get("findings") or []
        return record.verdict, tuple(
            f"{f['name']}: {f.get('reason', '')}" for f in found if isinstance(f, dict) and f.get("name")
        )

    def pending(self, asker: Asker, limit: int) -> list[ReleaseRequest]:
        return self.stores.requests.list(asker.tenant_id, status=RequestStatus.PENDING, limit=limit)

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _require_admin(asker: Asker) -> None:
        if not asker.is_admin:
            raise RequestRefused(403, "Not allowed", "Only an administrator can decide release requests.")

    def _decide(self, asker: Asker, mailbox: str, message_id: str, status: RequestStatus,
                reason: str) -> ReleaseRequest:
        try:
            return self.stores.requests.decide(asker.tenant_id, mailbox, message_id, status,
                                               by=asker.upn, reason=reason)
        except KeyError:
            raise RequestRefused(404, "No such request",
                                 "There is no release request for that message.") from None
        except ConcurrencyError:
            current = self.stores.requests.get(asker.tenant_id, mailbox, message_id)
            state = current.status.value.replace("_", " ") if current else "gone"
            by = f" by {current.decided_by}" if current and current.decided_by else ""
            raise RequestRefused(409, "Decided already", f"This request was {state}{by} already.") from None

    def _reopen(self, request: ReleaseRequest, actor: str, error: str) -> ReleaseRequest:
        try:
            return self.stores.requests.decide(request.tenant_id, request.mailbox, request.message_id,
                                               RequestStatus.PENDING, by=actor, expect=request.status,
                                               reason=f"release failed: {error}")
        except (KeyError, ConcurrencyError):
            log.warning("release request %s changed while its failed release was undone", request.message_id)
            return request

    async def _release(self, tenant_id: str, mailbox: str, message_id: str, actor: str) -> str:
        """The admin release path (moves the message back, marks the entry, audits "released");
        "" when released (now or before), else what went wrong."""
        from connectors.service.admin import AdminApi

        entry = self.stores.quarantine.get(tenant_id, mailbox, message_id)
        if entry is None or entry.status is QuarantineStatus.DELETED:
            return "the message was deleted meanwhile"
        try:
            result = await AdminApi(self.runtime).release(tenant_id, mailbox, message_id, actor)
        except ConcurrencyError:
            return "someone else changed the message at the same moment"
        if result.status == 200:
            return ""
        try:
            return str(json.loads(result.body).get("error", result.status))
        except ValueError:
            return f"status {result.status}"

    def _audit(self, tenant_id: str, actor: str, action: str, item: QuarantineEntry | ReleaseRequest,
               reason: str) -> None:
        self.stores.audit.append(tenant_id, AuditRecord(
            actor=actor, action=action, target=f"{item.mailbox}/{item.message_id}", reason=reason[:500],
            at=datetime.now(UTC), details={"subject": item.subject[:200], "sender": item.sender[:200]},
        ))

    async def _tell(self, request: ReleaseRequest, *, approved: bool) -> bool:
        """The outcome by mail to the person the message was for; False when it could not be sent
        (the decision stands either way)."""
        sender = self.runtime.settings.admin_notify_from
        if not sender:
            log.warning("release request decided: no TAP365_ADMIN_NOTIFY_FROM to tell %s from",
                        request.mailbox)
            return False
        subject, body = outcome_mail(request, approved=approved)
        try:
            await send_notice(self.runtime, request.tenant_id, [request.mailbox], subject, body)
        except GraphApiError as exc:
            log.warning("could not tell %s the outcome of a release request: %s %s", request.mailbox,
                        exc.status, exc.code)
            return False
        return True


def can_self_release(allowed: bool, verdict: str, entry: QuarantineEntry) -> bool:
    """Only SUSPICIOUS, only when the policy allows it, only while kept; MALICIOUS (or an
    unknown verdict) never."""
    return allowed and verdict == "suspicious" and entry.status in _RELEASABLE


def outcome_mail(request: ReleaseRequest, *, approved: bool) -> tuple[str, str]:
    what = (f"<p>From: {html.escape(request.sender)}<br>Subject: {html.escape(request.subject)}</p>")
    if approved:
        return ("TAP365: your release request was approved",
                "<p>The message you asked for was released and is in your mailbox.</p>" + what)
    return ("TAP365: your release request was denied",
            "<p>Your administrator kept the message you asked for.</p>" + what
            + f"<p>Reason: {html.escape(request.decision_reason)}</p>")


def link_expiry(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)
