"""The read-only pages with data: records written into Azurite through the stores, read back
through the console's handler (Overview, Clicks, Audit, Health), plus the overview's counting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.console import stats
from connectors.console.app import ConsoleApp
from connectors.service.runtime import Runtime
from connectors.settings import Settings
from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import (
    AuditRecord,
    ClickRecord,
    QuarantineEntry,
    QuarantineStatus,
    Subscription,
    VerdictRecord,
)

from .conftest import PLATFORM, TENANT, Client, text

NOW = datetime.now(UTC).replace(microsecond=0)


def verdict(mid: str, *, days_ago: int = 0, verdict: str = "malicious", action: str = "quarantine",
            mailbox: str = "adele@contoso.example", sender: str = "x@mail.evil-example.com",
            pipelines: dict[str, str] | None = None, findings: list[dict[str, str]] | None = None) -> VerdictRecord:
    return VerdictRecord(mid, NOW - timedelta(days=days_ago, minutes=1), verdict, action, mailbox=mailbox,
                         sender=sender, subject=f"subject {mid}",
                         details={"pipelines": pipelines or {}, "findings": findings or []})


def click(recipient: str, url: str, *, decision: str = "redirect", verdict: str = "clean", scanner: bool = False,
          minutes_ago: int = 1) -> ClickRecord:
    return ClickRecord(TENANT, recipient, url, verdict, decision, NOW - timedelta(minutes=minutes_ago),
                       is_scanner=scanner, user_agent="scanner" if scanner else "Mozilla")


# -- counting ----------------------------------------------------------------------------------------
def test_threat_kinds_from_pipelines_then_findings() -> None:
    assert stats.threat_kinds(verdict("a", pipelines={"url": "malicious"})) == {"url"}
    assert stats.threat_kinds(verdict("b", pipelines={"url": "clean", "attachments": "suspicious",
                                                      "impersonation": "quarantine"})) == {"attachment", "impersonation"}
    assert stats.threat_kinds(verdict("c", findings=[{"name": "url_intel_hit"}])) == {"url"}
    assert stats.threat_kinds(verdict("d")) == {"other"}
    assert stats.threat_kinds(VerdictRecord("e", NOW, "malicious", "hold", details={"pipelines": "garbage"})) == {"other"}


def test_threats_per_day_counts_threats_only_in_their_utc_day() -> None:
    since = NOW - timedelta(days=3)
    records = [verdict("a", days_ago=0, pipelines={"url": "malicious"}),
               verdict("b", days_ago=1, pipelines={"url": "suspicious", "attachments": "malicious"}),
               verdict("c", days_ago=1, verdict="clean", action="deliver"),  # not a threat
               verdict("d", days_ago=10, pipelines={"url": "malicious"})]  # before the period
    daily = stats.threats_per_day(records, since, NOW)
    assert len(daily.days) == 4 and daily.days[-1] == NOW.date()
    assert daily.counts["url"] == [0, 0, 1, 1]
    assert daily.counts["attachment"] == [0, 0, 1, 0]
    assert daily.total == 3


def test_held_summary_ages() -> None:
    def entry(hours: float, status: QuarantineStatus) -> QuarantineEntry:
        return QuarantineEntry(TENANT, "m", f"id{hours}", "f", "inbox", "r", NOW - timedelta(hours=hours), status)

    summary = stats.held_summary([entry(0.5, QuarantineStatus.HELD), entry(5, QuarantineStatus.QUARANTINED),
                                  entry(200, QuarantineStatus.QUARANTINED), entry(1, QuarantineStatus.RELEASED)], NOW)
    assert (summary.held, summary.quarantined) == (1, 2)
    assert summary.oldest == NOW - timedelta(hours=200)
    assert dict(summary.buckets) == {"under 1 hour": 1, "1 to 24 hours": 1, "1 to 7 days": 0, "over 7 days": 1}


def test_sender_domain() -> None:
    assert stats.sender_domain("Mallory <m@a.b.evil.co.uk>") == "evil.co.uk"
    assert stats.sender_domain("") == ""


# -- overview ----------------------------------------------------------------------------------------
def test_overview_with_data(client: Client, runtime: Runtime) -> None:
    s = runtime.stores
    s.verdicts.put_verdict(TENANT, "m1", verdict("m1", pipelines={"url": "malicious"}, mailbox="adele@contoso.example"))
    s.verdicts.put_verdict(TENANT, "m2", verdict("m2", days_ago=2, pipelines={"attachments": "malicious"},
                                                 mailbox="adele@contoso.example", sender="y@evil-example.com"))
    s.verdicts.put_verdict(TENANT, "m3", verdict("m3", days_ago=1, pipelines={"impersonation": "quarantine"},
                                                 mailbox="megan@contoso.example", sender="ceo@lookalike-example.com"))
    s.verdicts.put_verdict(TENANT, "m4", verdict("m4", verdict="clean", action="deliver"))
    for c in (click("adele@contoso.example", "https://evil.example/login", decision="block", verdict="malicious"),
              click("megan@contoso.example", "https://evil.example/login", decision="block", verdict="malicious"),
              click("adele@contoso.example", "https://good.example/"),
              click("scanner@contoso.example", "https://good.example/", scanner=True)):
        s.clicks.append(c)
    s.quarantine.put(QuarantineEntry(TENANT, "adele@contoso.example", "m1", "q", "inbox", "url", NOW - timedelta(hours=3),
                                     QuarantineStatus.QUARANTINED))
    s.quarantine.put(QuarantineEntry(TENANT, "megan@contoso.example", "m5", "h", "inbox", "hold", NOW - timedelta(minutes=5),
                                     QuarantineStatus.HELD))
    r = client.get("/", query={"days": "7"})
    body = text(r)
    assert r.status == 200
    assert re.search(r'id="n-threats">3<', body) and "of 4 decided" in body
    assert re.search(r'id="n-held">1<', body) and re.search(r'id="n-quarantined">1<', body)
    # The chart: one column segment per threat, each kind in its colour, with a <title> saying what it counts.
    assert body.count('class="bar bar-url"') == 1
    assert body.count('class="bar bar-attachment"') == 1 and body.count('class="bar bar-impersonation"') == 1
    assert body.count('class="bar bar-total"') == 4  # two targets, two sender domains (mail.x counts as x)
    assert 'role="img"' in body and "<title id=\"perday-t\">Threats per day by kind, last 7 days</title>" in body
    assert "1 URL</title>" in body
    # Top targets and sender domains, most first.
    assert body.index("adele@contoso.example</td><td class=\"num\">2") < body.index("megan@contoso.example</td>")
    assert "evil-example.com</td><td class=\"num\">2" in body and "lookalike-example.com" in body
    # Most-clicked and blocked links count people, not scanners.
    assert "https://evil.example/login</td><td class=\"num\">2</td><td class=\"num\">2</td><td class=\"num\">2" in body
    assert "https://good.example/</td><td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">0" in body
    # The period chosen is kept in the form; an out-of-range one is clamped.
    assert '<option value="7" selected>' in body
    assert "last 90 days" in text(client.get("/", query={"days": "9999"}))


def test_overview_empty_tenant(client: Client) -> None:
    body = text(client.get("/"))
    assert "No data in this period" in body and "No clicks in this period." in body


# -- clicks ------------------------------------------------------------------------------------------
@pytest.fixture
def small_pages(stores: AzureStores, tmp_path: Path) -> Client:
    settings = Settings(state_dir=tmp_path / "state", home_tenant_id=TENANT, console_page_size=10, console_max_rows=100)
    return Client(ConsoleApp(Runtime.create(settings, storage=stores.config), environ=PLATFORM))


def test_clicks_list_filters_and_pages(small_pages: Client) -> None:
    stores = small_pages.app.runtime.stores
    for i in range(23):
        stores.clicks.append(click(f"user{i % 2}@contoso.example", f"https://site.example/{i}", minutes_ago=i + 1))
    stores.clicks.append(click("bot@contoso.example", "https://site.example/scan", scanner=True))
    first = text(small_pages.get("/clicks"))
    assert first.count("<tr>\n      <td>") == 10 and 'rel="next"' in first and 'rel="prev"' not in first
    assert "https://site.example/0<" in first and "Page 1" in first
    third = text(small_pages.get("/clicks", query={"page": "3"}))
    assert third.count("<tr>\n      <td>") == 4 and 'rel="next"' not in third and 'rel="prev"' in third
    # A page larger than the configured size is not served.
    assert text(small_pages.get("/clicks", query={"size": "500"})).count("<tr>\n      <td>") == 10
    # Filters: user, visitor kind; links in the pager keep them.
    user1 = text(small_pages.get("/clicks", query={"user": "USER1@"}))
    assert "user0@" not in user1 and user1.count("user1@contoso.example") == 10 and "user=USER1%40" in user1
    scanners = text(small_pages.get("/clicks", query={"who": "scanner"}))
    assert scanners.count("<tr>\n      <td>") == 1 and ">scanner<" in scanners


def test_clicks_date_filter_and_bad_dates(client: Client, runtime: Runtime) -> None:
    runtime.stores.clicks.append(click("old@contoso.example", "https://a.example/", minutes_ago=60 * 24 * 5))
    runtime.stores.clicks.append(click("new@contoso.example", "https://b.example/", minutes_ago=1))
    day = (NOW - timedelta(days=5)).date().isoformat()
    only_old = text(client.get("/clicks", query={"from": day, "to": day}))
    assert "old@contoso.example" in only_old and "new@contoso.example" not in only_old
    bad = client.get("/clicks", query={"from": "yesterday<script>", "to": "2026-13-45"})
    assert bad.status == 200
    assert text(bad).count('class="field-error"') == 2 and 'aria-invalid="true"' in text(bad)
    assert "<script>" not in text(bad)


# -- audit -------------------------------------------------------------------------------------------
def test_audit_filters(client: Client, runtime: Runtime) -> None:
    audit = runtime.stores.audit
    audit.append(TENANT, AuditRecord("ada@contoso.example", "released", "adele/m1", "false positive", NOW))
    audit.append(TENANT, AuditRecord("system", "quarantined", "adele/m2", "malicious URL", NOW - timedelta(minutes=1)))
    audit.append(TENANT, AuditRecord("bob@contoso.example", "deleted", "megan/m3", "spam", NOW - timedelta(days=40)))
    body = text(client.get("/audit"))
    assert "released" in body and "quarantined" in body and "megan/m3" not in body  # 30 days by default
    by_actor = text(client.get("/audit", query={"actor": "ADA@"}))
    assert "adele/m1" in by_actor and "adele/m2" not in by_actor
    by_action = text(client.get("/audit", query={"action": "quarantined"}))
    assert "adele/m2" in by_action and "adele/m1" not in by_action
    old = (NOW - timedelta(days=41)).date().isoformat()
    assert "megan/m3" in text(client.get("/audit", query={"from": old}))


def test_read_limit_is_said(small_pages: Client) -> None:
    stores = small_pages.app.runtime.stores
    stores.audit.append_all(TENANT, [AuditRecord("system", "quarantined", f"m/{i}", "r", NOW - timedelta(seconds=i))
                                     for i in range(100)])
    body = text(small_pages.get("/audit"))
    assert "read limit" in body


# -- health ------------------------------------------------------------------------------------------
def test_health_without_graph_configured_still_shows_the_stores(client: Client, runtime: Runtime) -> None:
    runtime.stores.subscriptions.put_subscription(
        Subscription("sub-1", TENANT, "adele@contoso.example", "users/adele/messages", NOW + timedelta(hours=2)),
        __import__("pydantic").SecretStr("state"))
    r = client.get("/health")
    body = text(r)
    assert r.status == 200
    assert "sub-1" in body and "1 stored; 1 expire within 12 hours." in body
    assert "failed:" in body  # the token check says why (no client id configured)
    assert "has not completed onboarding" in body
