"""The policy editor through the console's handler (Azurite for the policy store): the stored
policy as YAML, a review step with the diff before anything is saved, validation problems shown at
their field and line, the admin API's ETag rule (a concurrent change is refused with the reason),
each save audited with the person; Analysts read only; another tenant's policy never shown."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from connectors.console.app import ConsoleResponse
from connectors.service.policy_review import review
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import Tenant
from tests.console.conftest import ADMIN_UPN, OTHER_TENANT, TENANT, Client, signed_in, text
from tests.console.helpers import csrf_token

START = "internal_domains: [contoso.example]\nurl:\n  enabled: true\n"


def _textarea(response: ConsoleResponse) -> str:
    found = re.search(r'<textarea id="policy-text"[^>]*>(.*?)</textarea>', text(response), re.S)
    assert found, "no policy textarea"
    return unescape(found.group(1))


def _hidden(response: ConsoleResponse, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', text(response))
    assert found, name
    return unescape(found.group(1))


def _review(client: Client, policy: str, page: ConsoleResponse | None = None) -> ConsoleResponse:
    page = page or client.get("/policy")
    return client.post("/policy/review", {"csrf_token": csrf_token(page), "etag": _hidden(page, "etag"),
                                          "policy": policy})


def _save(client: Client, reviewed: ConsoleResponse, policy: str | None = None) -> ConsoleResponse:
    return client.post("/policy/save", {
        "csrf_token": csrf_token(reviewed), "etag": _hidden(reviewed, "etag"),
        "reviewed": _hidden(reviewed, "reviewed"),
        "policy": _textarea(reviewed) if policy is None else policy,
    })


@pytest.fixture
def stored(runtime: Runtime) -> Runtime:
    runtime.stores.policies.put_policy(TENANT, review(START, None).document or {}, etag=None, updated_by="setup")
    return runtime


def test_the_editor_shows_the_stored_policy_as_yaml(stored: Runtime, client: Client) -> None:
    page = client.get("/policy")
    assert page.status == 200
    assert "contoso.example" in _textarea(page) and "version 1" in text(page)


def test_a_change_is_shown_as_a_diff_before_it_is_saved(stored: Runtime, client: Client) -> None:
    edited = START + "blocked_senders: [bad@evil.example]\n"
    reviewed = _review(client, edited)
    assert reviewed.status == 200
    diff = text(reviewed)
    assert '<span class="diff-add">+blocked_senders:</span>' in diff
    assert "+- bad@evil.example" in unescape(diff)
    doc = stored.stores.policies.get_policy(TENANT)
    assert doc is not None and doc.version == 1 and "blocked_senders" not in doc.document  # not saved yet
    saved = _save(client, reviewed)
    assert saved.status == 303 and "notice=policy_saved" in saved.headers["Location"]
    doc = stored.stores.policies.get_policy(TENANT)
    assert doc is not None and doc.version == 2 and doc.document["blocked_senders"] == ["bad@evil.example"]
    audit = stored.stores.audit.list_audit(TENANT, datetime.now(UTC) - timedelta(hours=1), 100)
    updates = [a for a in audit if a.action == "policy_updated"]
    assert len(updates) == 1 and updates[0].actor == ADMIN_UPN
    assert "saved; new mail" in text(client.get("/policy", query={"notice": "policy_saved"}))


def test_text_edited_after_the_review_is_reviewed_again_not_saved(stored: Runtime, client: Client) -> None:
    reviewed = _review(client, START + "blocked_senders: [a@evil.example]\n")
    again = _save(client, reviewed, START + "blocked_senders: [b@evil.example]\n")
    assert again.status == 200 and "Review the policy change" in text(again) and "b@evil.example" in text(again)
    doc = stored.stores.policies.get_policy(TENANT)
    assert doc is not None and doc.version == 1


@pytest.mark.parametrize(("policy", "field", "line"), [
    (START + "thresholds:\n  suspicious: 2\n  malicious: 1\n", "thresholds", 4),
    (START + "blocked_senders:\n  - ok@evil.example\n  - not an address\n", "blocked_senders.1", 6),
    ("internal_domains: [contoso.example]\nurl:\n  enabled: true\n  bogus_switch: 1\n", "url.bogus_switch", 4),
    ("url:\n  enabled: [1, 2\n", "", 3),
])
def test_a_validation_error_is_shown_at_its_field_and_line(
    stored: Runtime, client: Client, policy: str, field: str, line: int
) -> None:
    answer = _review(client, policy)
    assert answer.status == 422
    page = text(answer)
    assert 'aria-invalid="true" aria-describedby="policy-errors"' in page
    problem = re.search(r'<li class="bad">(.*?)</li>', page, re.S)
    assert problem is not None
    assert f'<span class="at-line">line {line}</span>' in problem.group(1)
    if field:
        assert f'<code class="at-field">{field}</code>' in problem.group(1)
    assert _textarea(answer) == policy  # the admin's text kept to fix it
    doc = stored.stores.policies.get_policy(TENANT)
    assert doc is not None and doc.version == 1


def test_a_concurrent_change_is_refused_with_the_reason(stored: Runtime, client: Client) -> None:
    reviewed = _review(client, START + "blocked_senders: [mine@evil.example]\n")
    current = stored.stores.policies.get_policy(TENANT)
    assert current is not None
    stored.stores.policies.put_policy(TENANT, {**current.document, "name": "theirs"}, etag=current.etag,
                                      updated_by="someone@contoso.example")
    refused = _save(client, reviewed)
    assert refused.status == 409
    page = text(refused)
    assert "someone else saved the policy meanwhile" in page and "someone@contoso.example" in page
    assert "-name: theirs" in unescape(page)  # the diff is now against their version
    doc = stored.stores.policies.get_policy(TENANT)
    assert doc is not None and doc.document.get("name") == "theirs" and "blocked_senders" not in doc.document
    assert _save(client, refused).status == 303  # reviewed against their version: saved
    doc = stored.stores.policies.get_policy(TENANT)
    assert doc is not None and doc.version == 3 and doc.document["blocked_senders"] == ["mine@evil.example"]


def test_a_first_policy_is_created_and_a_second_creation_is_refused(runtime: Runtime, client: Client) -> None:
    page = client.get("/policy")
    assert "built-in defaults apply" in text(page) and _hidden(page, "etag") == ""
    reviewed = _review(client, "internal_domains: [contoso.example]\n", page)
    runtime.stores.policies.put_policy(TENANT, {"name": "raced"}, etag=None, updated_by="other@contoso.example")
    assert _save(client, reviewed).status == 409


def test_hostile_policy_text_is_shown_inert(stored: Runtime, client: Client) -> None:
    hostile = START + 'name: "</textarea><script>alert(1)</script>"\n'
    reviewed = text(_review(client, hostile))
    assert "<script>alert(1)" not in reviewed and "</textarea><script>" not in reviewed
    bad = text(_review(client, "vips: [{name: '<img src=x onerror=alert(2)>', bogus: 1}]\n"))
    assert "<img src=x" not in bad and "&lt;img src=x" in bad


def test_an_analyst_reads_but_cannot_save(stored: Runtime, analyst: Client) -> None:
    page = analyst.get("/policy")
    assert page.status == 200 and "contoso.example" in text(page) and "<textarea" not in text(page)
    token = re.search(r'name="csrf-token" content="([^"]+)"', text(page))
    form = {"csrf_token": token.group(1) if token else "", "etag": "", "policy": "name: x\n"}
    assert analyst.post("/policy/review", form).status == 403
    assert analyst.post("/policy/save", form).status == 403


def test_another_tenant_sees_only_its_own_policy(stored: Runtime, client: Client) -> None:
    stored.stores.tenants.put_tenant(Tenant(OTHER_TENANT, "Fabrikam", datetime.now(UTC)))
    other = Client(client.app, signed_in("bob@fabrikam.example", tenant=OTHER_TENANT))
    page = other.get("/policy")
    assert page.status == 200 and "contoso.example" not in text(page) and "built-in defaults" in text(page)
    reviewed = _review(other, "name: fabrikam\n", page)
    assert _save(other, reviewed).status == 303
    mine = stored.stores.policies.get_policy(TENANT)
    assert mine is not None and mine.version == 1 and mine.document.get("name") is None


def test_save_needs_the_csrf_token(stored: Runtime, client: Client) -> None:
    form = {"etag": "", "policy": "name: forged\n", "reviewed": ""}
    assert client.post("/policy/save", form).status == 403
    assert client.post("/policy/save", {**form, "csrf_token": "x.1.y"}).status == 403
