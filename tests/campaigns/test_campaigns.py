"""Campaigns through the real processor, Azurite and the simulated tenant over HTTPS: one lure in
six mailboxes is found by its sender, its link, its attachment's hash and its subject
fingerprint; the admin API's purge quarantines each copy once (a second request moves nothing),
release puts each back once, and every step is audited with the person who asked."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.service.campaigns import (
    CampaignQueryError,
    api_campaign,
    api_purge,
    api_release,
    key_for,
    subject_fingerprint,
)
from connectors.service.processing import MessageProcessor
from connectors.storage.interfaces import Tenant
from m365sim.directory import default_seed
from tests.e2e.processor_harness import MOVE, Service, mail

USERS = [u["userPrincipalName"] for u in default_seed()["tenants"][0]["users"]]
SENDER = "billing@invoice-desk.example"
LINK = "https://invoice-desk.example/pay/view?doc=77"
ATTACHMENT = b"%PDF-1.4\n% a harmless invoice\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
ADMIN = "it-admin@contoso.test"


def test_subject_fingerprint_normalises_case_numbers_and_whitespace() -> None:
    assert subject_fingerprint("Invoice 4471  DUE\ttoday") == subject_fingerprint("invoice 98 due today")
    assert subject_fingerprint("Invoice 4471 due") != subject_fingerprint("Invoice due")
    assert subject_fingerprint("  12 34 ") == ""  # nothing but numbers groups nothing
    long = subject_fingerprint("x" * 5000)
    assert len(long) < 250 and long != subject_fingerprint("x" * 4999)


@pytest.mark.parametrize(("kind", "value", "error"), [
    ("sender", "not-an-address", "e-mail address"),
    ("sha256", "abc", "64 hexadecimal"),
    ("subject", " 42 ", "too weak"),
    ("url", "", "empty"),
    ("colour", "red", "one of"),
])
def test_unclear_campaigns_are_refused_with_the_reason(kind: str, value: str, error: str) -> None:
    with pytest.raises(CampaignQueryError, match=error):
        key_for(kind, value)


@pytest.fixture
def svc(service_factory: Callable[..., Service]) -> Service:
    service = service_factory()
    service.runtime.stores.tenants.put_tenant(Tenant(service.tenant_id, "Contoso", datetime.now(UTC)))
    service.put_policy({"notices": {"recipient_on_hold": False}})
    return service


def _lure(service: Service, n: int, upn: str) -> str:
    """The campaign's copy for ``upn`` (its subject's number, case and spacing differ); its id."""
    subject = ["Invoice 1001 is due", "INVOICE 2002  is due", "invoice 3  is\tdue"][n % 3]
    raw = mail(f"lure-{n}@invoice-desk.example", sender=f"Billing <{SENDER}>", subject=subject,
               html=f'<p>Your invoice: <a href="{LINK}">view</a></p>', files={"invoice.pdf": ATTACHMENT},
               to=upn)
    delivered = service.deliver(raw, upn)
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, upn, delivered["immutableId"]))
    assert outcome.status == "processed" and outcome.action != "quarantine", outcome
    return str(delivered["immutableId"])


def _folders(service: Service, ids: dict[str, str]) -> dict[str, str]:
    out = {}
    for upn, message_id in ids.items():
        for folder in service.sim.mailbox(upn)["folders"]:
            if any(m.get("immutableId") == message_id for m in folder["messages"]):
                out[upn] = str(folder["displayName"])
    return out


def _call(service: Service, result: Any) -> dict[str, Any]:
    answer = service.run(result)
    assert answer.status == 200, answer.body
    return dict(json.loads(answer.body))


def _audit(service: Service) -> list[Any]:
    since = datetime.now(UTC) - timedelta(hours=1)
    return service.runtime.stores.audit.list_audit(service.tenant_id, since, limit=1000)


def test_a_campaign_in_six_mailboxes_is_found_by_each_key_purged_once_and_released(svc: Service) -> None:
    ids = {upn: _lure(svc, n, upn) for n, upn in enumerate(USERS)}
    assert len(ids) == 6
    # Mail of another sender with another subject and link is no part of it.
    svc.deliver(mail("other@partner.example", to=USERS[0]), USERS[0])
    runtime, tenant = svc.runtime, svc.tenant_id
    digest = hashlib.sha256(ATTACHMENT).hexdigest()
    for query in ({"sender": SENDER.upper()}, {"url": LINK}, {"sha256": digest},
                  {"subject": "Invoice 5 is DUE"}):
        found = _call(svc, api_campaign(runtime, tenant, query))
        assert found["mailboxes"] == 6, query
        assert {(m["mailbox"], m["message_id"]) for m in found["value"]} == set(ids.items()), query
        assert not found["truncated"]
    inbox = _folders(svc, ids)

    moves = svc.route(MOVE)
    purged = _call(svc, api_purge(runtime, tenant, {}, json.dumps({"sender": SENDER}).encode(), ADMIN))
    assert sorted(purged["quarantined"]) == sorted(f"{u}/{i}" for u, i in ids.items())
    assert not purged["errors"] and purged["mailboxes"] == 6
    assert set(_folders(svc, ids).values()) == {"Quarantine"}
    assert svc.route(MOVE) == moves + 6  # one move per copy

    # A second request (by another key of the same copies, too) changes nothing.
    again = _call(svc, api_purge(runtime, tenant, {"sender": SENDER}, b"", ADMIN))
    assert again["quarantined"] == [] and set(again["skipped"].values()) == {"already quarantined"}
    other_key = _call(svc, api_purge(runtime, tenant, {"sha256": digest}, b"", ADMIN))
    assert other_key["quarantined"] == []
    assert svc.route(MOVE) == moves + 6
    listed = _call(svc, api_campaign(runtime, tenant, {"subject": "invoice 1 is due"}))
    assert {m["status"] for m in listed["value"]} == {"quarantined"}

    released = _call(svc, api_release(runtime, tenant, {"sender": SENDER}, b"", ADMIN))
    assert sorted(released["released"]) == sorted(purged["quarantined"]) and not released["errors"]
    assert _folders(svc, ids) == inbox
    assert svc.route(MOVE) == moves + 12
    twice = _call(svc, api_release(runtime, tenant, {"sender": SENDER}, b"", ADMIN))
    assert twice["released"] == [] and svc.route(MOVE) == moves + 12

    audit = _audit(svc)
    purges = [a for a in audit if a.action == "campaign_purge"]
    assert len(purges) == 6 and {a.actor for a in purges} == {ADMIN}
    assert len([a for a in audit if a.action == "released" and a.actor == ADMIN]) == 6
    assert {"campaign_purged", "campaign_released"} <= {a.action for a in audit if a.actor == ADMIN}

    # Released by mistake, purged again later: a new purge of the same copies.
    third = _call(svc, api_purge(runtime, tenant, {"url": LINK}, b"", ADMIN))
    assert len(third["quarantined"]) == 6 and set(_folders(svc, ids).values()) == {"Quarantine"}


def test_deleted_copies_are_skipped_and_bad_requests_refused(svc: Service) -> None:
    ids = {upn: _lure(svc, n, upn) for n, upn in enumerate(USERS[:3])}
    prefer = {"Prefer": 'IdType="ImmutableId"'}
    # Its person deleted one (to Deleted Items) and another for good.
    binned, gone = USERS[1], USERS[2]
    for method, path in (("DELETE", f"/users/{binned}/messages/{ids[binned]}"),
                         ("POST", f"/users/{gone}/messages/{ids[gone]}/permanentDelete")):
        answer = svc.sim.graph(method, path, svc.sim.token(), headers=prefer)
        assert answer.status_code == 204, answer.text
    runtime, tenant = svc.runtime, svc.tenant_id
    purged = _call(svc, api_purge(runtime, tenant, {"sender": SENDER}, b"", ADMIN))
    assert purged["quarantined"] == [f"{USERS[0]}/{ids[USERS[0]]}"]
    assert purged["skipped"] == {f"{binned}/{ids[binned]}": "deleted", f"{gone}/{ids[gone]}": "deleted"}
    assert _folders(svc, {binned: ids[binned]}) == {binned: "Deleted Items"}
    for query, body in (({}, b""), ({"sender": SENDER, "url": LINK}, b""), ({"sender": SENDER, "limit": "0"}, b""),
                        ({}, b"[1]"), ({}, b"{not json")):
        refused = svc.run(api_purge(runtime, tenant, query, body, ADMIN))
        assert refused.status == 400 and json.loads(refused.body)["error"]


def test_a_read_stops_at_its_limit_and_says_so(svc: Service) -> None:
    for n, upn in enumerate(USERS[:3]):
        _lure(svc, n, upn)
    found = _call(svc, api_campaign(svc.runtime, svc.tenant_id, {"sender": SENDER, "limit": "2"}))
    assert len(found["value"]) == 2 and found["truncated"] and found["limit"] == 2


def test_two_purges_at_the_same_moment_move_each_copy_once(svc: Service) -> None:
    ids = {upn: _lure(svc, n, upn) for n, upn in enumerate(USERS)}
    runtime, tenant = svc.runtime, svc.tenant_id
    moves = svc.route(MOVE)

    async def both() -> list[Any]:
        return list(await asyncio.gather(api_purge(runtime, tenant, {"sender": SENDER}, b"", ADMIN),
                                         api_purge(runtime, tenant, {"subject": "invoice 7 is due"}, b"",
                                                   "soc@contoso.test")))

    first, second = (json.loads(r.body) for r in svc.run(both()))
    assert sorted(first["quarantined"] + second["quarantined"]) == sorted(f"{u}/{i}" for u, i in ids.items())
    assert svc.route(MOVE) == moves + 6
    assert len([a for a in _audit(svc) if a.action == "campaign_purge"]) == 6
