"""Admin API (function-level keys) and the admin-consent callback."""

from __future__ import annotations

import asyncio
import html
import json
import logging
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.graph.errors import GraphApiError
from connectors.service.intake import HttpResult
from connectors.service.runtime import Runtime
from connectors.service.tenancy import OnboardingRefused, TenantService
from connectors.storage.interfaces import AuditRecord, PolicyConflict, QuarantineEntry, QuarantineStatus
from tap_core.parsing.timestamps import parse_iso_datetime
from tap_core.policy import PolicyError, parse_policy

log = logging.getLogger("tap365.admin")


def _json(data: Any, status: int = 200) -> HttpResult:
    return HttpResult(status, json.dumps(data, default=_default, ensure_ascii=False))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {k: v for k, v in asdict(value).items() if k != "etag"}
    if hasattr(value, "value"):
        return value.value
    return str(value)


def _since(query: dict[str, str], default_hours: int = 24) -> datetime:
    since = parse_iso_datetime(query.get("since", ""))
    return since if since is not None else datetime.now(UTC) - timedelta(hours=default_hours)


def _limit(query: dict[str, str]) -> int:
    try:
        return max(1, min(1000, int(query.get("limit", "100"))))
    except ValueError:
        return 100


#: Subscriptions listed by the status endpoint (the count covers all of them).
STATUS_LIST = 1000


class AdminApi:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stores = runtime.stores

    def quarantine(self, tenant_id: str, query: dict[str, str]) -> HttpResult:
        status = query.get("status")
        try:
            wanted = QuarantineStatus(status) if status else None
        except ValueError:
            return _json({"error": f"status must be one of {[s.value for s in QuarantineStatus]}"}, 400)
        entries = self.stores.quarantine.list(tenant_id, status=wanted, limit=_limit(query))
        return _json({"value": entries})

    async def release(self, tenant_id: str, mailbox: str, message_id: str, actor: str) -> HttpResult:
        entry = self.stores.quarantine.get(tenant_id, mailbox, message_id)
        if entry is None:
            return _json({"error": "no such held or quarantined message"}, 404)
        if entry.status is QuarantineStatus.RELEASED:
            return _json({"released": True, "already": True})
        # Two releases at the same moment (the API, the console, an approved request) would both
        # read the entry as held, and both move and audit: a journal claim per message and
        # listing (a later re-hold is a new one) lets one through.
        journal = self.stores.journal
        key = f"release|{mailbox}|{message_id}|{entry.at.isoformat()}"
        lease = self.runtime.settings.claim_lease_seconds
        claim = journal.claim(tenant_id, key, f"release:{actor}"[:200], lease)
        if claim is None:
            done = journal.get(tenant_id, key)
            if done is not None and done.done:
                return _json({"released": True, "already": True})
            return _json({"error": "this message is being released right now"}, 409)
        try:
            if entry.status is QuarantineStatus.CONVERTED:
                result = await self._release_originals(tenant_id, mailbox, message_id, actor, entry.reason)
            else:
                result = await self._move_back(tenant_id, mailbox, message_id, actor, entry)
        except BaseException:
            journal.release(claim)
            raise
        if result.status == 200:
            journal.record_step(claim, "done", {"by": actor})
        else:
            journal.release(claim)
        return result

    async def _move_back(
        self, tenant_id: str, mailbox: str, message_id: str, actor: str, entry: QuarantineEntry
    ) -> HttpResult:
        try:
            state = await self.runtime.remediator(tenant_id).release(
                mailbox, message_id, entry.original_folder_id or "inbox", entry.folder_id
            )
        except GraphApiError as exc:
            return _json({"error": f"Graph refused the move: {exc.status} {exc.code}"}, 502)
        self._record_release(tenant_id, mailbox, message_id, actor,
                             f"was {entry.status.value}: {entry.reason}", folder_id=state.folder_id)
        return _json({"released": True, "folder_id": state.folder_id})

    def _record_release(self, tenant_id: str, mailbox: str, message_id: str, actor: str, reason: str,
                        *, folder_id: str | None = None, details: dict[str, Any] | None = None) -> None:
        """The quarantine entry marked released, and the audit record saying who and why."""
        self.stores.quarantine.update_status(
            tenant_id, mailbox, message_id, QuarantineStatus.RELEASED, by=actor, folder_id=folder_id
        )
        self.stores.audit.append(
            tenant_id,
            AuditRecord(actor=actor, action="released", target=f"{mailbox}/{message_id}",
                        reason=reason[:500], at=datetime.now(UTC), details=details or {}),
        )

    async def _release_originals(
        self, tenant_id: str, mailbox: str, message_id: str, actor: str, why: str
    ) -> HttpResult:
        """A Safe File message: its original attachments go back in place of the PDF copies."""
        from connectors.graph.remediation import AttachmentTooLarge
        from connectors.service.safefile import restore_originals

        journal = self.stores.journal.get(tenant_id, message_id)
        data = journal.data if journal is not None else {}
        items = (data.get("safe_file") or {}).get("items") or (data.get("decided") or {}).get("safe_file")
        if not items:
            return _json({"error": "no record of the Safe File copies of this message"}, 409)
        try:
            requests = await restore_originals(
                self.runtime.remediator(tenant_id),
                self.stores.artefacts,
                tenant_id,
                mailbox,
                message_id,
                items,
            )
        except AttachmentTooLarge as exc:
            return _json({"error": f"the original cannot be put back through Graph: {exc}"}, 409)
        except GraphApiError as exc:
            return _json({"error": f"Graph refused the change: {exc.status} {exc.code}"}, 502)
        self._record_release(tenant_id, mailbox, message_id, actor, f"originals restored: {why}",
                             details={"graph_requests": requests})
        return _json({"released": True, "restored": [str(i["name"]) for i in items]})

    def get_policy(self, tenant_id: str) -> HttpResult:
        doc = self.stores.policies.get_policy(tenant_id)
        if doc is None:
            return _json({"policy": None, "etag": None, "note": "built-in defaults apply"})
        return HttpResult(
            200, json.dumps({"policy": doc.document, "version": doc.version}), headers={"ETag": doc.etag}
        )

    def put_policy(self, tenant_id: str, body: bytes, if_match: str | None, actor: str) -> HttpResult:
        try:
            policy = parse_policy(body or b"{}", name="policy")
        except PolicyError as exc:
            return _json({"error": str(exc)}, 400)
        document = policy.model_dump(mode="json", exclude_defaults=True)
        try:
            doc = self.stores.policies.put_policy(tenant_id, document, etag=if_match, updated_by=actor)
        except PolicyConflict as exc:
            return _json({"error": f"{exc}; GET the policy and send its ETag in If-Match"}, 412)
        self.runtime.forget_policy(tenant_id)
        self.stores.audit.append(
            tenant_id,
            AuditRecord(
                actor=actor,
                action="policy_updated",
                target="policy",
                reason=f"version {doc.version}",
                at=datetime.now(UTC),
            ),
        )
        return HttpResult(200, json.dumps({"version": doc.version}), headers={"ETag": doc.etag})

    def verdicts(self, tenant_id: str, query: dict[str, str]) -> HttpResult:
        return _json({"value": self.stores.verdicts.list_verdicts(tenant_id, _since(query), _limit(query))})

    def clicks(self, tenant_id: str, query: dict[str, str]) -> HttpResult:
        return _json({"value": self.stores.clicks.list_clicks(tenant_id, _since(query), _limit(query))})

    def audit(self, tenant_id: str, query: dict[str, str]) -> HttpResult:
        return _json({"value": self.stores.audit.list_audit(tenant_id, _since(query), _limit(query))})

    def status(self, tenant_id: str) -> HttpResult:
        tenant = self.stores.tenants.get_tenant(tenant_id)
        if tenant is None:
            return _json({"error": "unknown tenant; grant admin consent first"}, 404)
        subs = self.stores.subscriptions.list_subscriptions(tenant_id)
        progress = self.stores.tenants.get_onboarding(tenant_id)
        return _json(
            {
                "tenant": {k: v for k, v in asdict(tenant).items() if k != "protected_mailboxes"},
                "onboarding": None if progress is None else {
                    "status": progress.status, "pages": progress.pages, "mailboxes": progress.mailboxes,
                    "subscribed": progress.subscribed, "errors": progress.errors,
                    "updated_at": progress.updated_at,
                },
                "subscription_count": len(subs),
                # The first STATUS_LIST of them (a tenant may have 10,000): the count is above.
                "subscriptions": [
                    {"id": s.subscription_id, "mailbox": s.mailbox, "expires_at": s.expires_at}
                    for s in subs[:STATUS_LIST]
                ],
                # Shared by every tenant: a failing feed shows here with when and why.
                "intelligence": self.runtime.intel_health(),
                "directory": self.runtime.directory.status(tenant_id),
            }
        )


def consent_start(runtime: Runtime, query: dict[str, str]) -> HttpResult:
    """``GET /api/consent/start?tenant=<id or domain>``: off to Entra's admin-consent page, with
    a state bound to this browser (see connectors.service.consent)."""
    from connectors.service import consent

    try:
        begun = consent.start(runtime, query.get("tenant", ""))
    except ValueError as exc:
        return _page(400, "Cannot start consent", str(exc))
    result = _page(302, "Redirecting to Microsoft Entra", "Continue at Microsoft Entra to grant consent.")
    result.headers.update({"Location": begun.location, "Set-Cookie": begun.cookie})
    return result


async def consent_callback(runtime: Runtime, query: dict[str, str], cookie_header: str = "") -> HttpResult:
    """Where Entra sends the admin after consent: check the state against this browser's
    consent cookie, check the tenant, record it and queue its onboarding (the mailboxes are
    subscribed by the workers, a page of users at a time)."""
    from connectors.graph.errors import GraphAuthError
    from connectors.service import consent
    from connectors.service.tenancy import InvalidTenantId

    try:
        consent.verify_callback(runtime, query.get("state", ""), cookie_header)
    except consent.StateError as exc:
        return _consent_page(400, "Consent request not recognised", str(exc))
    if query.get("error"):
        return _consent_page(
            400,
            "Consent was not granted",
            f"Microsoft Entra said: {query.get('error')}: {query.get('error_description', '')}",
        )
    if query.get("admin_consent", "").lower() != "true" or not query.get("tenant"):
        return _consent_page(
            400,
            "Unexpected consent response",
            "Expected admin_consent=True and a tenant id from Microsoft Entra.",
        )
    service = TenantService(runtime)
    try:
        tenant_id = service.check_allowed(query["tenant"])
    except InvalidTenantId as exc:
        return _consent_page(400, "Not a tenant id", str(exc))
    except OnboardingRefused as exc:
        return _consent_page(403, "Tenant not allowed", str(exc))
    try:
        # One token request: an unknown tenant or a consent that did not take is said here.
        await asyncio.to_thread(lambda: runtime.graph.credentials.get(tenant_id).acquire())
    except GraphAuthError as exc:
        log.warning("consent of %s: no token: %s", tenant_id, exc)
        if exc.error == "invalid_authority":
            return _consent_page(400, "Unknown tenant", f"Microsoft Entra does not know tenant {tenant_id}.")
        return _consent_page(
            502, "Consent not usable yet",
            f"Microsoft Entra refused the app a token for tenant {tenant_id}: {exc}. If consent was "
            "just granted, wait a minute and start again; else run `tap365 doctor`.",
        )
    started = service.start_onboarding(tenant_id)
    text = ("Protection is being enabled: the mailboxes are subscribed in the background."
            if started.started else "Protection is already being enabled for this tenant.")
    return _consent_page(
        200,
        "Consent recorded",
        text + " The admin API's status shows the progress.",
        body_json={"tenant_id": tenant_id, "queued": started.started, "run": started.run},
    )


def _consent_page(status: int, title: str, text: str, *, body_json: Any = None) -> HttpResult:
    """A consent page; the nonce cookie is spent whatever the outcome (no replay)."""
    from connectors.service.consent import clear_cookie

    result = _page(status, title, text, body_json=body_json)
    result.headers["Set-Cookie"] = clear_cookie()
    return result


def _page(status: int, title: str, text: str, *, extra: str = "", body_json: Any = None) -> HttpResult:
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<title>{html.escape(title)}</title></head><body style="font-family:system-ui,sans-serif;'
        f'max-width:40rem;margin:2rem auto;padding:0 1rem"><h1>{html.escape(title)}</h1>'
        f"<p>{html.escape(text)}</p>{extra}"
        + (
            f'<script type="application/json" id="result">{html.escape(json.dumps(body_json))}</script>'
            if body_json is not None
            else ""
        )
        + "</body></html>"
    )
    return HttpResult(
        status,
        doc,
        "text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "no-store",
        },
    )
