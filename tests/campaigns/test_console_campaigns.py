"""The console's Campaigns page over the real processor, Azurite and the simulated tenant: find a
campaign, purge it and release it with plain form POSTs (CSRF checked), mail's text escaped, the
person's UPN in the audit, Analysts shown no actions and refused the POST."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from connectors.console.app import ConsoleApp, ConsoleRequest, ConsoleResponse
from connectors.console.auth import ADMIN, ANALYST
from connectors.service.processing import MessageProcessor
from connectors.storage.interfaces import Tenant
from m365sim.directory import default_seed
from tests.console.conftest import PLATFORM, signed_in
from tests.console.helpers import csrf_token
from tests.e2e.processor_harness import Service, mail

USERS = [u["userPrincipalName"] for u in default_seed()["tenants"][0]["users"]]
SENDER = "alerts@mailbox-quota.example"
PERSON = "it-admin@contoso.test"


@pytest.fixture
def svc(service_factory: Callable[..., Service]) -> Service:
    service = service_factory()
    service.runtime.stores.tenants.put_tenant(Tenant(service.tenant_id, "Contoso", datetime.now(UTC)))
    service.put_policy({"notices": {"recipient_on_hold": False}})
    return service


def _get(svc: Service, path: str, role: str = ADMIN, **query: str) -> ConsoleResponse:
    return _send(svc, "GET", path, role, query=query)


def _send(svc: Service, method: str, path: str, role: str, *, query: dict[str, str] | None = None,
          form: dict[str, str] | None = None) -> ConsoleResponse:
    headers = {**signed_in(PERSON, role, svc.tenant_id), "host": "tap365.example",
               "origin": "https://tap365.example"}
    body = urlencode(form).encode() if form is not None else b""
    if form is not None:
        headers["content-type"] = "application/x-www-form-urlencoded"
    request = ConsoleRequest(method=method, path=path, query=dict(query or {}),
                             headers={k.lower(): v for k, v in headers.items()}, body=body,
                             url=f"https://tap365.example/api/console{path}")
    # The service's loop: its Graph client's connections belong to it.
    return svc.run(ConsoleApp(svc.runtime, environ=PLATFORM).handle(request))


def _folders(svc: Service, ids: dict[str, str]) -> set[str]:
    return {str(f["displayName"]) for upn, i in ids.items() for f in svc.sim.mailbox(upn)["folders"]
            if any(m.get("immutableId") == i for m in f["messages"])}


def _lure(svc: Service, n: int, upn: str) -> str:
    raw = mail(f"quota-{n}@mailbox-quota.example", sender=f"IT <{SENDER}>", to=upn,
               subject=f"Mailbox {n} <script>alert(1)</script> almost full",
               html='<p>Your mailbox is almost full. <a href="https://mailbox-quota.example/fix">Fix</a></p>')
    delivered = svc.deliver(raw, upn)
    outcome = svc.run(MessageProcessor(svc.runtime).process(svc.tenant_id, upn, delivered["immutableId"]))
    assert outcome.action != "quarantine", outcome
    return str(delivered["immutableId"])


def test_find_purge_and_release_a_campaign_from_the_console(svc: Service) -> None:
    ids = {upn: _lure(svc, n, upn) for n, upn in enumerate(USERS[:3])}
    page = _get(svc, "/campaigns", kind="sender", value=SENDER)
    assert page.status == 200
    html = page.body.decode()
    assert "3 messages in 3 mailboxes" in html
    assert "<script>alert(1)" not in html  # mail's text escaped
    assert 'action="/api/console/campaigns/purge"' in html
    token = csrf_token(page)

    refused = _send(svc, "POST", "/campaigns/purge", ADMIN, form={"kind": "sender", "value": SENDER})
    assert refused.status == 403 and _folders(svc, ids) != {"Quarantine"}  # no CSRF token: nothing moved

    done = _send(svc, "POST", "/campaigns/purge", ADMIN,
                 form={"kind": "sender", "value": SENDER, "csrf_token": token})
    assert done.status == 303, done.body[:500]
    assert _folders(svc, ids) == {"Quarantine"}
    after = _get(svc, "/campaigns", kind="sender", value=SENDER).body.decode()
    assert after.count("<td>quarantined</td>") == 3

    back = _send(svc, "POST", "/campaigns/release", ADMIN,
                 form={"kind": "sender", "value": SENDER, "csrf_token": token})
    assert back.status == 303 and _folders(svc, ids) == {"Inbox"}

    since = datetime.now(UTC) - timedelta(hours=1)
    audit: list[Any] = svc.runtime.stores.audit.list_audit(svc.tenant_id, since, limit=1000)
    mine = [a.action for a in audit if a.actor == PERSON]
    assert mine.count("campaign_purge") == 3 and mine.count("released") == 3
    assert {"campaign_purged", "campaign_released"} <= set(mine)


def test_analysts_see_campaigns_without_actions_and_bad_values_are_said(svc: Service) -> None:
    _lure(svc, 0, USERS[0])
    page = _get(svc, "/campaigns", role=ANALYST, kind="sender", value=SENDER)
    assert page.status == 200 and "1 message in 1 mailbox" in page.body.decode()
    assert "/campaigns/purge" not in page.body.decode()
    refused = _send(svc, "POST", "/campaigns/purge", ANALYST,
                    form={"kind": "sender", "value": SENDER, "csrf_token": csrf_token(page)})
    assert refused.status == 403
    bad = _get(svc, "/campaigns", kind="sha256", value="xyz").body.decode()
    assert "64 hexadecimal digits" in bad and 'aria-invalid="true"' in bad
