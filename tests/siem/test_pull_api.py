"""The Proofpoint-TAP-compatible SIEM pull API after real processing: Azurite for the records,
the simulated tenant over HTTPS for Graph, the message processor deciding. Each endpoint, TAP's
field names, its query limits, authentication refused, another tenant never seen."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from connectors.service.processing import MessageProcessor
from connectors.settings import Settings
from connectors.siem.tap_api import handle
from connectors.storage.interfaces import ClickRecord, VerdictRecord
from tests.e2e.processor_harness import ADELE, Service, mail

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
OTHER = "0ther-tenant"
MESSAGE_FIELDS = {"GUID", "QID", "messageID", "messageTime", "sender", "recipient", "subject", "threatsInfoMap",
                  "fromAddress", "toAddresses", "ccAddresses", "phishScore", "malwareScore", "quarantineFolder"}
THREAT_FIELDS = {"threatID", "threatStatus", "classification", "threatType", "threatTime", "threat", "threatUrl"}
CLICK_FIELDS = {"clickTime", "url", "clickIP", "userAgent", "threatID", "classification", "recipient", "sender",
                "messageID", "GUID", "threatStatus", "threatTime", "threatURL", "campaignId", "id"}


def _basic(principal: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{principal}:{secret}".encode()).decode()


@pytest.fixture
def seeded(service: Service) -> tuple[Service, Settings]:
    """Mail processed for real (a malicious attachment quarantined, a clean note delivered), clicks
    logged, and another tenant's verdict and click next to them."""
    runtime = service.runtime
    bad = service.deliver(mail("siem-bad@vendor.example", sender="Billing <billing@vendor.example>", subject="Invoice", files={"invoice.com": EICAR}))
    good = service.deliver(mail("siem-good@partner.example", subject="Minutes"))
    for delivered in (bad, good):
        service.run(MessageProcessor(runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    now = datetime.now(UTC) - timedelta(seconds=5)  # a query's end is this second: before it
    clicks = runtime.stores.clicks
    clicks.append(ClickRecord(service.tenant_id, ADELE, "https://evil.example/login", "malicious", "block", now,
                              ("feed: phishing",), "Mozilla/5.0", "203.0.113.7"))
    clicks.append(ClickRecord(service.tenant_id, ADELE, "https://odd.example/x", "suspicious", "proceed", now,
                              ("new domain",), "Mozilla/5.0", "203.0.113.8"))
    clicks.append(ClickRecord(service.tenant_id, ADELE, "https://partner.example/notes", "clean", "redirect", now))
    runtime.stores.verdicts.put_verdict(OTHER, "other-msg", VerdictRecord(
        "other-msg", now, "malicious", "quarantine", "x@other.test", "a@evil.test", "OTHER TENANT SECRET",
        ("attachment",), {"pipelines": {"attachments": "malicious"}}))
    clicks.append(ClickRecord(OTHER, "x@other.test", "https://other-tenant.example/", "malicious", "block", now))
    settings = Settings(siem_principal=f"svc-a={service.tenant_id},svc-b={OTHER}",
                        siem_secret="svc-a=secret-a,svc-b=secret-b")
    time.sleep(1.1)  # a query ends at the start of its second: let the verdicts' second pass
    return service, settings


def _get(seeded: tuple[Service, Settings], path: str, query: str = "sinceSeconds=3600",
         auth: str | None = None) -> tuple[int, Any]:
    service, settings = seeded
    result = handle(service.runtime.stores, settings, "GET", path, auth or _basic("svc-a", "secret-a"),
                    parse_qs(query, keep_blank_values=True))
    body = json.loads(result.body) if result.status == 200 else result.body
    return result.status, body


def test_all_answers_every_collection_with_the_documented_fields(seeded: tuple[Service, Settings]) -> None:
    status, body = _get(seeded, "all")
    assert status == 200
    assert set(body) == {"queryEndTime", "messagesDelivered", "messagesBlocked", "clicksPermitted", "clicksBlocked"}
    end = datetime.fromisoformat(body["queryEndTime"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - end).total_seconds()) < 3600
    (blocked,) = body["messagesBlocked"]
    assert MESSAGE_FIELDS <= set(blocked)
    assert blocked["messageID"] == "<siem-bad@vendor.example>" and blocked["subject"] == "Invoice"
    assert blocked["recipient"] == [ADELE] and "vendor.example" in blocked["sender"]
    (threat,) = [t for t in blocked["threatsInfoMap"] if t["threatType"] == "attachment"]
    assert THREAT_FIELDS <= set(threat) and threat["classification"] == "malware"
    assert threat["threatStatus"] == "active" and blocked["malwareScore"] == 100
    assert body["messagesDelivered"] == []  # clean mail is no threat (TAP lists threats)
    (click_blocked,), (click_permitted,) = body["clicksBlocked"], body["clicksPermitted"]
    assert CLICK_FIELDS <= set(click_blocked)
    assert click_blocked["url"] == "https://evil.example/login" and click_blocked["clickIP"] == "203.0.113.7"
    assert click_blocked["userAgent"] == "Mozilla/5.0" and click_blocked["classification"] == "malware"
    assert click_permitted["url"] == "https://odd.example/x"
    assert "OTHER TENANT" not in json.dumps(body) and "other-tenant.example" not in json.dumps(body)


@pytest.mark.parametrize(("path", "collections"), [
    ("clicks/blocked", {"clicksBlocked": 1}), ("clicks/permitted", {"clicksPermitted": 1}),
    ("messages/blocked", {"messagesBlocked": 1}), ("messages/delivered", {"messagesDelivered": 0}),
    ("issues", {"messagesDelivered": 0, "clicksPermitted": 1}),
])
def test_each_endpoint_answers_its_collections(seeded: tuple[Service, Settings], path: str,
                                               collections: dict[str, int]) -> None:
    status, body = _get(seeded, path)
    assert status == 200
    assert {k: len(v) for k, v in body.items() if k != "queryEndTime"} == collections


def test_the_time_parameters(seeded: tuple[Service, Settings]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    since = (now - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    status, body = _get(seeded, "all", f"sinceTime={since}")
    assert status == 200 and len(body["messagesBlocked"]) == 1
    start, end = now - timedelta(minutes=50), now + timedelta(seconds=0)
    status, body = _get(seeded, "clicks/blocked", f"interval={start.isoformat()}/{end.isoformat()}".replace("+", "%2B"))
    assert status == 200 and len(body["clicksBlocked"]) == 1
    assert body["queryEndTime"].startswith(end.strftime("%Y-%m-%dT%H:%M:%S"))
    status, body = _get(seeded, "clicks/blocked", f"interval=PT30M/{end.isoformat().replace('+00:00', 'Z')}")
    assert status == 200 and len(body["clicksBlocked"]) == 1
    # A window before anything happened holds nothing.
    old_end = (now - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    status, body = _get(seeded, "all", f"interval=PT1H/{old_end}")
    assert status == 200 and not any(body[k] for k in body if k != "queryEndTime")
    status, body = _get(seeded, "messages/blocked", "sinceSeconds=3600&threatType=url")
    assert status == 200 and body["messagesBlocked"] == []
    status, body = _get(seeded, "messages/blocked", "sinceSeconds=3600&threatType=attachment&threatStatus=active")
    assert status == 200 and len(body["messagesBlocked"]) == 1
    status, body = _get(seeded, "messages/blocked", "sinceSeconds=3600&threatStatus=falsePositive")
    assert status == 200 and body["messagesBlocked"] == []


@pytest.mark.parametrize("query", [
    "", "sinceSeconds=3601", "sinceSeconds=0", "sinceSeconds=abc", "sinceSeconds=60&sinceTime=2020-01-01T00:00:00Z",
    "sinceTime=2020-01-01T00:00:00Z", "sinceTime=not-a-date", "sinceTime=2999-01-01T00:00:00Z",
    "interval=2020-01-01T00:00:00Z/2020-01-01T00:30:00Z", "interval=PT2H/{now}", "interval=PT10S/{now}",
    "interval={now}/{before}", "interval=nonsense", "sinceSeconds=60&threatType=virus",
    "sinceSeconds=60&threatStatus=gone", "sinceSeconds=60&format=syslog",
])
def test_queries_tap_refuses_get_400_with_a_message(seeded: tuple[Service, Settings], query: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    query = query.format(now=now.isoformat().replace("+00:00", "Z"),
                         before=(now - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"))
    status, body = _get(seeded, "all", query)
    assert status == 400
    assert isinstance(body, str) and (body.startswith("The ") or body.startswith("Exactly one"))


@pytest.mark.parametrize("auth", [
    "", "Bearer secret-a", _basic("svc-a", "secret-b"), _basic("svc-a", "secret-a "), _basic("svc-c", ""),
    _basic("", ""), "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(),
])
def test_refused_without_the_principal_and_its_secret(seeded: tuple[Service, Settings], auth: str) -> None:
    service, settings = seeded
    result = handle(service.runtime.stores, settings, "GET", "all", auth, {"sinceSeconds": ["60"]})
    assert result.status == 401 and result.headers["WWW-Authenticate"].startswith("Basic")
    assert "queryEndTime" not in result.body


def test_a_principal_sees_its_own_tenant_only(seeded: tuple[Service, Settings]) -> None:
    status, body = _get(seeded, "all", auth=_basic("svc-b", "secret-b"))
    assert status == 200
    (message,) = body["messagesBlocked"]
    assert message["subject"] == "OTHER TENANT SECRET" and message["QID"] == "other-msg"
    assert [c["url"] for c in body["clicksBlocked"]] == ["https://other-tenant.example/"]
    assert body["clicksPermitted"] == [] and "evil.example" not in json.dumps(body)


def test_unknown_endpoint_and_method(seeded: tuple[Service, Settings]) -> None:
    assert _get(seeded, "clicks/everything")[0] == 404
    service, settings = seeded
    assert handle(service.runtime.stores, settings, "POST", "all", _basic("svc-a", "secret-a"), {}).status == 405


def test_a_window_over_the_record_limit_is_refused_with_the_reason(seeded: tuple[Service, Settings]) -> None:
    service, settings = seeded
    at = datetime.now(UTC) - timedelta(seconds=5)
    for n in range(10):
        service.runtime.stores.clicks.append(ClickRecord(service.tenant_id, ADELE, f"https://s{n}.example/",
                                                         "clean", "redirect", at))
    small = Settings(**{**settings.model_dump(), "siem_max_events": 10})
    result = handle(service.runtime.stores, small, "GET", "all", _basic("svc-a", "secret-a"),
                    {"sinceSeconds": ["3600"]})
    assert result.status == 400 and "more than 10 records" in result.body and "shorter" in result.body


def test_no_principal_configured_refuses_everyone(service: Service) -> None:
    result = handle(service.runtime.stores, Settings(), "GET", "all", _basic("", ""), {"sinceSeconds": ["60"]})
    assert result.status == 401
