"""Release requests through the console's handler, with App Service's sign-in headers, Azurite
and the simulated tenant over HTTPS: a digest's link opens the request page, the person confirms
with a POST (CSRF), the admin sees the request with its findings and approves (the message is
back in the Inbox, the person mailed) or denies; analysts see but cannot act; forged, expired and
foreign links get clear pages; mail's text is escaped everywhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

from connectors.console.app import ConsoleApp, ConsoleRequest, ConsoleResponse
from connectors.console.auth import ADMIN, ANALYST
from connectors.service.digests import send_digests
from connectors.service.release_requests import sign_link
from connectors.storage.interfaces import QuarantineStatus, Tenant
from connectors.storage.release_requests import RequestStatus
from tests.console.conftest import PLATFORM, principal_header, signed_in, text
from tests.console.helpers import csrf_token
from tests.e2e.processor_harness import (  # noqa: F401 - fixtures
    ADELE,
    MOVE,
    SEND,
    Service,
    m365sim,
    m365sim_server,
    service_factory,
)
from tests.e2e.test_release_requests import BAD_LINK, NOTIFIER, _folder, _mails, _suspicious, _tokens

IT_ADMIN = "it-admin@contoso.test"
HOSTILE_SUBJECT = '<script>alert(1)</script>"onmouseover="x'


@pytest.fixture
def svc(service_factory: Callable[..., Service], tmp_path: Path) -> Service:  # noqa: F811
    feed = tmp_path / "feed.txt"
    feed.write_text(f"{BAD_LINK}\n")
    service = service_factory(admin_notify_from=NOTIFIER, intel_feeds=str(feed), hold_recheck_minutes=60)
    service.runtime.stores.tenants.put_tenant(Tenant(service.tenant_id, "Contoso", datetime.now(UTC)))
    service.put_policy({"notices": {"recipient_on_hold": False}})
    return service


class Console:
    """Requests to the console's handler on the service's event loop (its Graph client's)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.app = ConsoleApp(service.runtime, environ=PLATFORM)

    def call(self, method: str, path: str, upn: str, role: str = ADMIN, *, tenant: str = "",
             query: dict[str, str] | None = None, form: dict[str, str] | None = None) -> ConsoleResponse:
        tid = tenant or self.service.tenant_id
        who = signed_in(upn, role, tid) if role else {"x-ms-client-principal": principal_header(upn, (), tid)}
        headers = {**who, "host": "tap365.example"}
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        request = ConsoleRequest(method=method, path=path, query=query or {}, headers=headers, body=body,
                                 url=f"https://tap365.example/api/console{path}")
        return self.service.run(self.app.handle(request))


def _digest_token(svc: Service) -> str:
    assert svc.run(send_digests(svc.runtime)).sent == 1
    [digest] = _mails(svc, "held in the last day")
    [token] = _tokens(digest)
    return token


def test_digest_link_request_and_admin_approval_through_the_console(svc: Service) -> None:
    held = _suspicious(svc, "c1", extra=HOSTILE_SUBJECT)
    token = _digest_token(svc)
    console = Console(svc)

    # The person (signed in as the mailbox's UPN, no console role) opens the link: the summary, escaped.
    page = console.call("GET", "/request", ADELE, "", query={"t": token})
    assert page.status == 200, text(page)
    body = text(page)
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert '"onmouseover="x' not in body and "&#34;onmouseover=&#34;x" in body
    assert 'id="request-form"' in body and "Request release" in body

    # Without the form's token, nothing is stored.
    refused = console.call("POST", "/request", ADELE, "", form={"t": token, "reason": "mine"})
    assert refused.status == 403
    assert svc.runtime.stores.requests.get(svc.tenant_id, ADELE, held) is None

    sent = console.call("POST", "/request", ADELE, "", form={"t": token, "reason": "I expect it <b>",
                                                          "csrf_token": csrf_token(page)})
    assert sent.status == 303 and "notice=request_sent" in sent.headers["Location"]
    again = console.call("GET", "/request", ADELE, "", query={"t": token, "notice": "request_sent"})
    assert "Your request was sent" in text(again) and "pending" in text(again)

    # The admin's list: the request with the message's summary and findings, escaped.
    listing = console.call("GET", "/requests", IT_ADMIN)
    assert listing.status == 200
    body = text(listing)
    assert "&lt;script&gt;" in body and "<script>alert" not in body
    assert "I expect it &lt;b&gt;" in body and "suspicious" in body
    assert re.search(r'<ul class="findings"><li>[a-z_]+: ', body), "the findings are listed"
    form = {"mailbox": ADELE, "id": held, "csrf_token": csrf_token(listing)}
    moves, sends = svc.route(MOVE), svc.route(SEND)
    approved = console.call("POST", "/requests/approve", IT_ADMIN, form=form)
    assert approved.status == 303 and "notice=request_approved" in approved.headers["Location"], text(approved)
    assert _folder(svc, held) == "Inbox"
    assert len(_mails(svc, "your release request was approved")) == 1
    # The same form again (a double click): refused as decided, nothing moved or mailed again.
    twice = console.call("POST", "/requests/approve", IT_ADMIN, form=form)
    assert twice.status == 409 and "approved by it-admin@contoso.test" in text(twice)
    assert (svc.route(MOVE) - moves, svc.route(SEND) - sends) == (1, 1)
    assert "No request is waiting" in text(console.call("GET", "/requests", IT_ADMIN))

    audit = svc.runtime.stores.audit.list_audit(svc.tenant_id, datetime.now(UTC) - timedelta(hours=1))
    actions = {(a.actor, a.action) for a in audit}
    assert {(ADELE, "release_requested"), (IT_ADMIN, "released"), (IT_ADMIN, "release_request_approved")} <= actions


def test_analyst_sees_requests_but_cannot_decide_and_deny_needs_a_reason(svc: Service) -> None:
    held = _suspicious(svc, "c2")
    token = _digest_token(svc)
    console = Console(svc)
    page = console.call("GET", "/request", ADELE, "", query={"t": token})
    console.call("POST", "/request", ADELE, "", form={"t": token, "csrf_token": csrf_token(page)})

    seen = console.call("GET", "/requests", "alan@contoso.test", ANALYST)
    assert seen.status == 200 and "Delivery failed" in text(seen)
    assert "/requests/approve" not in text(seen) and "/requests/deny" not in text(seen)
    admin_page = console.call("GET", "/requests", IT_ADMIN)
    form = {"mailbox": ADELE, "id": held, "csrf_token": csrf_token(admin_page), "reason": "phish"}
    assert console.call("POST", "/requests/approve", "alan@contoso.test", ANALYST, form=form).status == 403
    assert console.call("POST", "/requests/deny", "alan@contoso.test", ANALYST, form=form).status == 403

    blank = console.call("POST", "/requests/deny", IT_ADMIN, form={**form, "reason": " "})
    assert blank.status == 400 and "Say why" in text(blank)
    denied = console.call("POST", "/requests/deny", IT_ADMIN, form=form)
    assert denied.status == 303 and "notice=request_denied" in denied.headers["Location"]
    assert _folder(svc, held) == "Hold"
    request = svc.runtime.stores.requests.get(svc.tenant_id, ADELE, held)
    assert request is not None and request.status is RequestStatus.DENIED and request.decided_by == IT_ADMIN
    [told] = _mails(svc, "your release request was denied")
    assert "phish" in str(told["body"])
    # The person's page now says so, and offers no form.
    after = text(console.call("GET", "/request", ADELE, "", query={"t": token}))
    assert "denied" in after and 'id="request-form"' not in after


def test_forged_expired_and_foreign_links_get_clear_pages(svc: Service) -> None:
    held = _suspicious(svc, "c3")
    console = Console(svc)
    keyring = svc.runtime.codec.keyring
    good = sign_link(keyring, svc.tenant_id, ADELE, held, datetime.now(UTC) + timedelta(days=7))
    kid, payload, mac = good.split(".")
    altered = f"{kid}.{payload[:-3]}AAA.{mac}"
    for token, status, words in [
        (altered, 400, "not one we issued"),
        ("", 400, "not one we issued"),
        (sign_link(keyring, svc.tenant_id, ADELE, held, datetime.now(UTC) - timedelta(minutes=1)), 410, "expired"),
    ]:
        page = console.call("GET", "/request", ADELE, query={"t": token})
        assert page.status == status and words in text(page), (token[:30], page.status)
        posted = console.call("POST", "/request", ADELE, form={"t": token, "csrf_token": csrf_token(
            console.call("GET", "/requests", ADELE))})
        assert posted.status == status
    # A colleague, and an admin of another tenant the service also serves: refused.
    colleague = console.call("GET", "/request", "megan.bowen@contoso.test", ANALYST, query={"t": good})
    assert colleague.status == 403 and "someone else" in text(colleague)
    other = "00000000-0000-0000-0000-0000000000ff"
    svc.runtime.stores.tenants.put_tenant(Tenant(other, "Fabrikam", datetime.now(UTC)))
    foreign = console.call("GET", "/request", "admin@fabrikam.test", tenant=other, query={"t": good})
    assert foreign.status == 403 and "another organisation" in text(foreign)
    assert svc.runtime.stores.requests.list(svc.tenant_id) == []
    entry = svc.runtime.stores.quarantine.get(svc.tenant_id, ADELE, held)
    assert entry is not None and entry.status is QuarantineStatus.HELD


def test_self_release_through_the_console_when_the_policy_allows(svc: Service) -> None:
    svc.put_policy({"notices": {"recipient_on_hold": False, "self_release_suspicious": True}})
    held = _suspicious(svc, "c4")
    token = _digest_token(svc)
    console = Console(svc)
    page = console.call("GET", "/request", ADELE, "", query={"t": token})
    assert "Release it to my mailbox" in text(page)
    done = console.call("POST", "/request", ADELE, "", form={"t": token, "csrf_token": csrf_token(page)})
    assert done.status == 303 and "notice=request_self_released" in done.headers["Location"]
    assert _folder(svc, held) == "Inbox"


def test_a_request_for_a_message_deleted_meanwhile_says_so_and_can_only_be_denied(svc: Service) -> None:
    held = _suspicious(svc, "c6")
    token = _digest_token(svc)
    console = Console(svc)
    page = console.call("GET", "/request", ADELE, "", query={"t": token})
    console.call("POST", "/request", ADELE, "", form={"t": token, "csrf_token": csrf_token(page)})
    svc.runtime.stores.quarantine.update_status(svc.tenant_id, ADELE, held, QuarantineStatus.DELETED,
                                                by="other-admin@contoso.test")
    listing = console.call("GET", "/requests", IT_ADMIN)
    assert "now deleted" in text(listing)
    form = {"mailbox": ADELE, "id": held, "csrf_token": csrf_token(listing)}
    moves = svc.route(MOVE)
    refused = console.call("POST", "/requests/approve", IT_ADMIN, form=form)
    assert refused.status == 409 and "Deny the request" in text(refused)
    assert svc.route(MOVE) == moves
    denied = console.call("POST", "/requests/deny", IT_ADMIN, form={**form, "reason": "deleted as phish"})
    assert denied.status == 303


def test_a_person_without_a_console_role_asks_for_their_message_and_sees_nothing_else(svc: Service) -> None:
    held = _suspicious(svc, "c5")
    token = _digest_token(svc)
    console = Console(svc)
    page = console.call("GET", "/request", ADELE, "", query={"t": token})
    assert page.status == 200 and 'id="request-form"' in text(page)
    sent = console.call("POST", "/request", ADELE, "", form={"t": token, "csrf_token": csrf_token(page)})
    assert sent.status == 303 and "notice=request_sent" in sent.headers["Location"]
    request = svc.runtime.stores.requests.get(svc.tenant_id, ADELE, held)
    assert request is not None and request.status is RequestStatus.PENDING
    assert console.call("POST", "/request", ADELE, "", form={"t": token}).status == 403  # no CSRF token
    # Everything else of the console stays an admin's or analyst's.
    assert console.call("GET", "/requests", ADELE, "").status == 403
    assert console.call("GET", "/held", ADELE, "").status == 403
    form = {"mailbox": ADELE, "id": held, "csrf_token": csrf_token(page)}
    assert console.call("POST", "/requests/approve", ADELE, "", form=form).status == 403
    assert _folder(svc, held) == "Hold"
