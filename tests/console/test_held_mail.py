"""Held and quarantined mail in the console, through its handler with the real parts: Azurite for
the stores, the simulated tenant over HTTPS for Graph, the real processor putting mail on hold.

List, filter and search; the safe preview (hostile subjects, names, bodies and reasons inert, no
live link); each action exactly once and audited with the person (release back to the Inbox,
release to all recipients, delete, block the sender so the next message is MALICIOUS, report a
false positive); an Analyst refused; another tenant refused."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from connectors.console.app import ConsoleApp, ConsoleRequest, ConsoleResponse
from connectors.console.auth import ADMIN, ANALYST
from connectors.service.mail_actions import feedback_store
from connectors.service.processing import MessageProcessor
from connectors.storage.interfaces import QuarantineStatus, Tenant
from tests.console.conftest import PLATFORM, signed_in
from tests.console.helpers import csrf_token
from tests.e2e.processor_harness import (  # noqa: F401 - fixtures
    ADELE,
    Service,
    m365sim,
    m365sim_server,
    mail,
    service_factory,
)

MEGAN = "megan.bowen@contoso.test"
ADMIN_UPN = "it-admin@contoso.test"
EVIL = "evil.example"


@dataclass
class Console:
    """Requests to the console's handler on the service's event loop (its Graph client lives there)."""

    service: Service
    headers: dict[str, str]

    def request(self, method: str, path: str, query: Mapping[str, str] | None = None,
                form: Mapping[str, str] | None = None) -> ConsoleResponse:
        headers = {**self.headers, "host": "tap365.example"}
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        request = ConsoleRequest(method, path, dict(query or {}), headers, body,
                                 f"https://tap365.example/api/console{path}")
        app = ConsoleApp(self.service.runtime, environ=PLATFORM)
        return self.service.run(app.handle(request))

    def get(self, path: str, **query: str) -> ConsoleResponse:
        return self.request("GET", path, query)

    def act(self, mailbox: str, message_id: str, action: str, **extra: str) -> ConsoleResponse:
        page = self.get("/held/message", mailbox=mailbox, id=message_id)
        token = csrf_token(page) if page.status == 200 else "none"
        return self.request("POST", "/held/act", form={"csrf_token": token, "mailbox": mailbox,
                                                       "id": message_id, "action": action, **extra})


def text(response: ConsoleResponse) -> str:
    return response.body.decode("utf-8")


def _made(service_factory: Callable[..., Service], **settings: Any) -> Service:  # noqa: F811
    made = service_factory(**settings)
    tenants = made.runtime.stores.tenants
    now = datetime.now(UTC)
    tenants.put_tenant(Tenant(made.tenant_id, "Contoso", now))
    tenants.put_tenant(Tenant(str(made.sim.tenant(1)["id"]), "Fabrikam", now))
    return made


@pytest.fixture
def service(service_factory: Callable[..., Service]) -> Service:  # noqa: F811
    return _made(service_factory)


@pytest.fixture
def admin(service: Service) -> Console:
    return Console(service, signed_in(ADMIN_UPN, ADMIN, service.tenant_id))


def _held(service: Service, message_id: str, upn: str = ADELE, **kwargs: Any) -> str:
    """Delivered to ``upn`` and processed; the immutable id of the message, now held or quarantined."""
    delivered = service.deliver(mail(message_id, to=upn, **kwargs), upn)
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, upn,
                                                                    delivered["immutableId"]))
    assert outcome.action in ("hold", "quarantine"), outcome
    return str(delivered["immutableId"])


def _blocked(service: Service, *entries: str) -> None:
    service.put_policy({"blocked_senders": list(entries)})


def _audit(service: Service, action: str) -> list[Any]:
    since = datetime.now(UTC) - timedelta(hours=1)
    return [a for a in service.runtime.stores.audit.list_audit(service.tenant_id, since, 1000) if a.action == action]


def test_list_filters_and_search_are_query_parameters(service: Service, admin: Console) -> None:
    _blocked(service, EVIL, "spam.example")
    _held(service, "a@evil.example", sender="Ann <ann@evil.example>", subject="Invoice 42")
    _held(service, "b@spam.example", sender="Bob <bob@spam.example>", subject="Cheap watches", upn=MEGAN)
    page = text(admin.get("/held"))
    assert "Invoice 42" in page and "Cheap watches" in page
    assert page.index("Cheap watches") < page.index("Invoice 42")  # newest first
    for query, shown, hidden in (
        ({"sender": "ANN@evil"}, "Invoice 42", "Cheap watches"),
        ({"recipient": "megan"}, "Cheap watches", "Invoice 42"),
        ({"subject": "invoice"}, "Invoice 42", "Cheap watches"),
        ({"verdict": "malicious", "finding": "sender_blocked", "sender": "bob"}, "Cheap watches", "Invoice 42"),
        ({"status": "quarantined", "subject": "watches"}, "Cheap watches", "Invoice 42"),
    ):
        found = text(admin.get("/held", **query))
        assert shown in found and hidden not in found, query
    assert "No message matches" in text(admin.get("/held", verdict="clean"))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert "No message matches" in text(admin.get("/held", **{"from": tomorrow}))
    assert "Invoice 42" in text(admin.get("/held", to=tomorrow))
    bad = text(admin.get("/held", **{"from": "yesterday", "verdict": "evil"}))
    assert "is not a date" in bad and "verdict is one of" in bad and "Invoice 42" in bad  # those filters off


def test_page_size_is_bounded_and_pages_link_with_their_filters(
    service_factory: Callable[..., Service],  # noqa: F811
) -> None:
    service = _made(service_factory, console_page_size=10)
    admin = Console(service, signed_in(ADMIN_UPN, ADMIN, service.tenant_id))
    _blocked(service, EVIL)
    for n in range(12):
        _held(service, f"p{n}@evil.example", sender="Ann <ann@evil.example>", subject=f"Lure {n:02d}")
    page = text(admin.get("/held", size="500", sender="ann"))
    assert len(re.findall(r"Lure \d\d", page)) == 10  # asked for 500, given the limit
    assert "Lure 11" in page and "Lure 01" not in page
    nxt = re.search(r'href="([^"]+)"\s*>Next page', page) or re.search(r'rel="next" href="([^"]+)"', page)
    assert nxt is not None and "sender=ann" in nxt.group(1).replace("&amp;", "&")
    second = text(admin.get("/held", page="2", size="10", sender="ann"))
    assert len(re.findall(r"Lure \d\d", second)) == 2 and "Lure 00" in second
    # One status and nothing else: the store filters, and reads only up to the page.
    first = text(admin.get("/held", status="quarantined"))
    assert len(re.findall(r"Lure \d\d", first)) == 10 and 'rel="next"' in first
    last = text(admin.get("/held", status="quarantined", page="2"))
    assert re.findall(r"Lure \d\d", last) == ["Lure 01", "Lure 00"] and 'rel="next"' not in last
    assert "No message matches" in text(admin.get("/held", status="released"))


HOSTILE_SUBJECT = '<img src=x onerror="alert(1)">Pay <script>alert(2)</script>'
HOSTILE_BODY = (
    '<html><head><style>p{}</style><script>alert(3)</script></head><body>'
    '<p>Dear "user" <b onmouseover="alert(4)">click</b>:</p>'
    '<a href="https://login.evil.example/phish?u=1">Open your &lt;invoice&gt;</a><br>'
    '<a href="javascript:alert(5)">js</a><img src="https://tracker.evil.example/p.gif" alt="logo">'
    '<iframe src="https://evil.example/frame"></iframe></body></html>'
)


def test_preview_renders_hostile_mail_inert_with_no_live_link(service: Service, admin: Console) -> None:
    _blocked(service, EVIL)
    message_id = _held(service, "hostile@evil.example", sender='"<script>alert(6)</script>" <x@evil.example>',
                       subject=HOSTILE_SUBJECT, html=HOSTILE_BODY)
    for page in (text(admin.get("/held")), text(admin.get("/held/message", mailbox=ADELE, id=message_id))):
        assert "<script>alert" not in page and "<img src=x" not in page and 'onerror="' not in page
        assert "&lt;img src=x onerror=" in page  # shown, as text
    page = text(admin.get("/held/message", mailbox=ADELE, id=message_id))
    main = page.split('<main id="main"', 1)[1]
    hrefs = re.findall(r'\b(?:href|src|action)="([^"]*)"', main)
    assert all(h.startswith("/api/console/") for h in hrefs), hrefs  # no link into the mail's world
    assert "<iframe" not in page and "onmouseover" not in main.replace("&#34;", "")
    assert "Open your &lt;invoice&gt; [https://login.evil.example/phish?u=1]" in page  # text and destination
    assert "[image: logo]" in page and "tracker.evil.example" not in page
    assert "sender_blocked_by_policy" in page  # the finding, its weight and reason
    assert "alert(3)" not in page  # the script's text is dropped, not shown
    assert re.search(r"<th scope=\"row\">Subject</th><td[^>]*>&lt;img", page)


def test_a_message_graph_cannot_read_says_so(service: Service, admin: Console) -> None:
    _blocked(service, EVIL)
    message_id = _held(service, "gone@evil.example", sender="x@evil.example", subject="Gone soon")
    page = admin.get("/held/message", mailbox=ADELE, id="AAMkNoSuchMessage")
    assert page.status == 404  # not in the list at all
    # A listed message Graph no longer has: the page says why instead of failing.
    service.run(service.runtime.remediator(service.tenant_id).graph.request(
        "POST", f"/users/{ADELE}/messages/{message_id}/permanentDelete"))
    shown = text(admin.get("/held/message", mailbox=ADELE, id=message_id))
    assert "could not be read" in shown and "no longer in the mailbox" in shown


def test_release_puts_it_back_in_the_inbox_once_and_audits_the_person(service: Service, admin: Console) -> None:
    _blocked(service, EVIL)
    message_id = _held(service, "rel@evil.example", sender="x@evil.example", subject="Release me")
    assert service.folder_of("<rel@evil.example>")[0] == "Quarantine"
    moves = service.route("POST /v1.0/users/{id}/messages/{id}/move")
    answer = admin.act(ADELE, message_id, "release")
    assert answer.status == 303 and "notice=held_released" in answer.headers["Location"]
    assert service.folder_of("<rel@evil.example>")[0] == "Inbox"
    again = admin.act(ADELE, message_id, "release")
    assert "notice=held_already_released" in again.headers["Location"]
    assert service.route("POST /v1.0/users/{id}/messages/{id}/move") == moves + 1  # moved once
    released = _audit(service, "released")
    assert len(released) == 1 and released[0].actor == ADMIN_UPN
    entry = service.runtime.stores.quarantine.get(service.tenant_id, ADELE, message_id)
    assert entry is not None and entry.status is QuarantineStatus.RELEASED and entry.updated_by == ADMIN_UPN


def test_release_to_all_recipients_of_the_same_message(service: Service, admin: Console) -> None:
    _blocked(service, EVIL)
    first = _held(service, "all@evil.example", sender="x@evil.example", subject="To everyone")
    _held(service, "all@evil.example", sender="x@evil.example", subject="To everyone", upn=MEGAN)
    _held(service, "other@evil.example", sender="x@evil.example", subject="To everyone")  # another message
    answer = admin.act(ADELE, first, "release_all")
    assert "notice=held_released_all" in answer.headers["Location"]
    assert service.folder_of("<all@evil.example>", ADELE)[0] == "Inbox"
    assert service.folder_of("<all@evil.example>", MEGAN)[0] == "Inbox"
    assert service.folder_of("<other@evil.example>", ADELE)[0] == "Quarantine"
    assert len(_audit(service, "released")) == 2
    assert "notice=held_already_released" in admin.act(ADELE, first, "release_all").headers["Location"]


def test_delete_removes_it_from_the_hidden_folder_once(service: Service, admin: Console) -> None:
    _blocked(service, EVIL)
    message_id = _held(service, "del@evil.example", sender="x@evil.example", subject="Delete me")
    answer = admin.act(ADELE, message_id, "delete")
    assert "notice=held_deleted" in answer.headers["Location"]
    with pytest.raises(AssertionError, match="in no folder"):
        service.folder_of("<del@evil.example>")
    entry = service.runtime.stores.quarantine.get(service.tenant_id, ADELE, message_id)
    assert entry is not None and entry.status is QuarantineStatus.DELETED
    assert "notice=held_already_deleted" in admin.act(ADELE, message_id, "delete").headers["Location"]
    assert "notice=held_deleted_message" in admin.act(ADELE, message_id, "release").headers["Location"]
    deleted = _audit(service, "deleted")
    assert len(deleted) == 1 and deleted[0].actor == ADMIN_UPN and deleted[0].details["name"]
    page = text(admin.get("/held/message", mailbox=ADELE, id=message_id))
    assert "nothing to preview" in page and 'value="delete"' not in page


def test_block_sender_makes_the_next_message_malicious(
    service: Service, admin: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAP365_SANDBOX_URL", raising=False)  # no sandbox: the PDF is held
    service.put_policy({"attachments": {"timeout_action": "hold"}, "internal_domains": ["contoso.test"]})
    first = _held(service, "s1@partner.example", sender="Pat <pat@partner.example>", subject="Minutes",
                  files={"minutes.pdf": b"%PDF-1.4\n%%EOF\n"})
    answer = admin.act(ADELE, first, "block_sender")
    assert "notice=held_blocked" in answer.headers["Location"]
    policy = service.runtime.stores.policies.get_policy(service.tenant_id)
    assert policy is not None and policy.document["blocked_senders"] == ["pat@partner.example"]
    assert policy.document["internal_domains"] == ["contoso.test"]  # the rest of the policy kept
    assert "notice=held_already_blocked" in admin.act(ADELE, first, "block_sender").headers["Location"]
    assert len(_audit(service, "sender_blocked")) == 1
    delivered = service.deliver(mail("s2@partner.example", sender="Pat <pat@partner.example>", subject="Hi"))
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE,
                                                                    delivered["immutableId"]))
    assert outcome.verdict == "malicious" and outcome.action == "quarantine"
    other = service.deliver(mail("s3@partner.example", sender="Kim <kim@partner.example>", subject="Hi"))
    assert service.run(MessageProcessor(service.runtime).process(
        service.tenant_id, ADELE, other["immutableId"])).verdict != "malicious"
    assert "notice=held_blocked" in admin.act(ADELE, first, "block_domain").headers["Location"]
    policy = service.runtime.stores.policies.get_policy(service.tenant_id)
    assert policy is not None and policy.document["blocked_senders"] == ["pat@partner.example", "partner.example"]


def test_false_positive_is_recorded_once_and_shown(service: Service, admin: Console) -> None:
    _blocked(service, EVIL)
    message_id = _held(service, "fp@evil.example", sender="x@evil.example", subject="Not spam")
    answer = admin.act(ADELE, message_id, "false_positive", note="our supplier")
    assert "notice=held_reported" in answer.headers["Location"]
    report = feedback_store(service.runtime).get(service.tenant_id, ADELE, message_id)
    assert report is not None and report.reported_by == ADMIN_UPN and report.verdict == "malicious"
    assert "sender_blocked_by_policy" in report.findings and report.note == "our supplier"
    page = text(admin.get("/held/message", mailbox=ADELE, id=message_id))
    assert "Reported as a false positive by it-admin@contoso.test" in page
    assert "notice=held_already_reported" in admin.act(ADELE, message_id, "false_positive").headers["Location"]
    assert len(_audit(service, "false_positive_reported")) == 1


def test_an_analyst_sees_but_cannot_act(service: Service) -> None:
    _blocked(service, EVIL)
    message_id = _held(service, "an@evil.example", sender="x@evil.example", subject="Look only")
    analyst = Console(service, signed_in("megan.bowen@contoso.test", ANALYST, service.tenant_id))
    page = text(analyst.get("/held/message", mailbox=ADELE, id=message_id))
    assert "Look only" in page and 'value="release"' not in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    form = {"csrf_token": token.group(1) if token else "", "mailbox": ADELE, "id": message_id, "action": "release"}
    assert analyst.request("POST", "/held/act", form=form).status == 403
    assert service.folder_of("<an@evil.example>")[0] == "Quarantine"


def test_another_tenant_neither_sees_nor_acts(service: Service, admin: Console) -> None:
    _blocked(service, EVIL)
    message_id = _held(service, "t@evil.example", sender="x@evil.example", subject="Contoso only")
    other = Console(service, signed_in("bob.smith@fabrikam.test", ADMIN, str(service.sim.tenant(1)["id"])))
    assert "Contoso only" not in text(other.get("/held"))
    assert other.get("/held/message", mailbox=ADELE, id=message_id).status == 404
    own_page = other.get("/held")
    form = {"csrf_token": csrf_token(own_page), "mailbox": ADELE, "id": message_id, "action": "delete"}
    assert other.request("POST", "/held/act", form=form).status == 404
    assert service.folder_of("<t@evil.example>")[0] == "Quarantine"


def test_actions_need_the_csrf_token(service: Service, admin: Console) -> None:
    _blocked(service, EVIL)
    message_id = _held(service, "c@evil.example", sender="x@evil.example", subject="Forged")
    form = {"mailbox": ADELE, "id": message_id, "action": "delete"}
    assert admin.request("POST", "/held/act", form=form).status == 403
    assert admin.request("POST", "/held/act", form={**form, "csrf_token": "forged"}).status == 403
    assert service.folder_of("<c@evil.example>")[0] == "Quarantine"


def test_the_preview_waits_for_graph_only_so_long_and_shows_authentication_results(
    service_factory: Callable[..., Service],  # noqa: F811
) -> None:
    service = _made(service_factory, console_graph_timeout_seconds=0.5)
    admin = Console(service, signed_in(ADMIN_UPN, ADMIN, service.tenant_id))
    _blocked(service, EVIL)
    raw = mail("auth@evil.example", sender="x@evil.example", subject="Signed?")
    raw = b"Authentication-Results: mx.contoso.test; spf=fail smtp.mailfrom=evil.example; dmarc=fail\r\n" + raw
    delivered = service.deliver(raw)
    service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    message_id = str(delivered["immutableId"])
    page = text(admin.get("/held/message", mailbox=ADELE, id=message_id))
    assert re.search(r"Authentication-Results</th><td[^>]*>mx.contoso.test; spf=fail", page)
    service.sim.faults(latency_ms=3000, routes=["GET /v1.0/users/{id}/messages/{id}"])
    try:
        slow = admin.get("/held/message", mailbox=ADELE, id=message_id)
    finally:
        service.sim.faults()
    assert slow.status == 200
    assert "did not answer within 0.5 s" in text(slow) and "Signed?" in text(slow)  # the record still shown


def test_two_releases_at_the_same_moment_release_and_audit_once(service: Service) -> None:
    import asyncio

    from connectors.service.mail_actions import release

    _blocked(service, EVIL)
    message_id = _held(service, "race@evil.example", sender="x@evil.example", subject="Twice")
    async def twice() -> list[Any]:
        return list(await asyncio.gather(
            release(service.runtime, service.tenant_id, ADELE, message_id, ADMIN_UPN),
            release(service.runtime, service.tenant_id, ADELE, message_id, "megan.bowen@contoso.test"),
        ))

    both = service.run(twice())
    assert sorted(o.done for o in both) == [False, True]
    assert {o.key for o in both if not o.done} <= {"changed", "already_released"}
    assert service.folder_of("<race@evil.example>")[0] == "Inbox"
    assert len(_audit(service, "released")) == 1


def test_two_releases_through_the_admin_api_at_the_same_moment_release_and_audit_once(service: Service) -> None:
    """The JSON API, the console and an approved request all release through AdminApi.release."""
    import asyncio
    import json

    from connectors.service.admin import AdminApi

    _blocked(service, EVIL)
    message_id = _held(service, "race-api@evil.example", sender="x@evil.example", subject="Twice by API")

    async def twice() -> list[Any]:
        api = AdminApi(service.runtime)
        return list(await asyncio.gather(
            api.release(service.tenant_id, ADELE, message_id, ADMIN_UPN),
            api.release(service.tenant_id, ADELE, message_id, "megan.bowen@contoso.test"),
        ))

    answers = [(r.status, json.loads(r.body)) for r in service.run(twice())]
    moved = [a for a in answers if a[0] == 200 and not a[1].get("already")]
    assert len(moved) == 1, answers
    assert all(a in moved or a[0] == 409 or a[1].get("already") for a in answers), answers
    assert service.folder_of("<race-api@evil.example>")[0] == "Inbox"
    assert len(_audit(service, "released")) == 1
    again = service.run(AdminApi(service.runtime).release(service.tenant_id, ADELE, message_id, ADMIN_UPN))
    assert json.loads(again.body) == {"released": True, "already": True}
