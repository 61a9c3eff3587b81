"""The triage list through the admin API function and the console's handler (App Service's
sign-in headers, Azurite): one row per reported message with its reporters, tenant isolation, and
mail's text escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from connectors.console.auth import ANALYST
from connectors.service.reports import api_reports
from connectors.service.runtime import Runtime
from connectors.storage.reports import Reporter, TriageEntry
from tests.console.conftest import OTHER_TENANT, TENANT, Client, signed_in, text

NOW = datetime.now(UTC)
HOSTILE = '<script>alert(1)</script>"onmouseover="x'


def _report(runtime: Runtime, tenant: str, key: str, reporter: str, *, subject: str = "Invoice overdue",
            minutes_ago: int = 0) -> None:
    entry = TriageEntry(tenant, key, internet_message_id=key, sender="billing@evil.example", subject=subject,
                        verdict="malicious", outcome="confirmed", analysed="mailbox",
                        findings=({"name": "sender_blocked_by_policy", "reason": "Sender blocked by policy"},))
    who = Reporter(reporter, f"r-{key}-{reporter}", NOW - timedelta(minutes=minutes_ago), "attached", "confirmed")
    runtime.stores.reports.add_report(entry, who)


def test_the_api_lists_one_entry_per_message_with_its_reporters(runtime: Runtime) -> None:
    _report(runtime, TENANT, "<a@evil.example>", "adele@contoso.example", minutes_ago=5)
    _report(runtime, TENANT, "<a@evil.example>", "megan@contoso.example")
    _report(runtime, TENANT, "<b@evil.example>", "adele@contoso.example", minutes_ago=9)
    _report(runtime, OTHER_TENANT, "<c@evil.example>", "bob@fabrikam.example")
    result = api_reports(runtime, TENANT, {})
    assert result.status == 200
    value = json.loads(result.body)["value"]
    assert [e["key"] for e in value] == ["<a@evil.example>", "<b@evil.example>"]  # last reported first
    assert value[0]["count"] == 2 and [r["address"] for r in value[0]["reporters"]] == [
        "adele@contoso.example", "megan@contoso.example"]
    assert value[0]["findings"][0]["name"] == "sender_blocked_by_policy" and "etag" not in value[0]
    assert len(json.loads(api_reports(runtime, TENANT, {"limit": "1"}).body)["value"]) == 1


def test_the_console_page_lists_reports_of_the_persons_tenant_only_and_escapes_mail(
    client: Client, runtime: Runtime
) -> None:
    _report(runtime, TENANT, "<a@evil.example>", "adele@contoso.example", subject=HOSTILE)
    _report(runtime, TENANT, "<a@evil.example>", "megan@contoso.example", subject=HOSTILE)
    _report(runtime, OTHER_TENANT, "<c@evil.example>", "bob@fabrikam.example", subject="Other tenant's lure")
    page = client.get("/reports")
    assert page.status == 200
    html = text(page)
    assert "<h1>Reports</h1>" in html and "Phishing confirmed" in html
    assert "adele@contoso.example" in html and "megan@contoso.example" in html and "<strong>2</strong>" in html
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Other tenant" not in html and "bob@fabrikam.example" not in html
    # Analysts read the list too (it has no actions).
    assert client.get("/reports", headers=signed_in("alan@contoso.example", ANALYST)).status == 200


def test_the_console_page_says_when_nothing_was_reported(client: Client) -> None:
    assert "Nobody has reported a message yet." in text(client.get("/reports"))
