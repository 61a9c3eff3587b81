"""Admin consent through the real function_app.py on the local host, Azurite and m365sim's
Entra: the state is bound to the admin's browser, only the home tenant (and listed ones) may
onboard, tenant ids are canonical, an unknown tenant is a clear 400, and onboarding twice
subscribes nothing twice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors.devstack.azurite import AzuriteUnavailable
from connectors.devstack.stack import Stack, running_stack
from connectors.keys import keyring_from_settings
from connectors.service.consent import NONCE_COOKIE, make_state
from connectors.settings import Settings
from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig

UNKNOWN = "00000000-0000-4000-8000-000000000000"  # a well-formed tenant id Entra does not know


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    try:
        # The unknown tenant is listed so that the refusal comes from Entra, not the allow-list.
        with running_stack(extra_env={"TAP365_ALLOWED_TENANTS": UNKNOWN}) as running:
            yield running
    except AzuriteUnavailable as exc:
        pytest.skip(str(exc))


def _start(stack: Stack, tenant: str = "") -> tuple[requests.Response, str]:
    response = requests.get(f"{stack.functions_url}/api/consent/start", params={"tenant": tenant} if tenant else {},
                            allow_redirects=False, timeout=60)
    assert response.status_code == 302, response.text
    return response, response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]


def _callback(stack: Stack, params: dict[str, str], nonce: str = "") -> requests.Response:
    headers = {"Cookie": f"{NONCE_COOKIE}={nonce}"} if nonce else {}
    return requests.get(f"{stack.functions_url}/api/consent/callback", params=params, headers=headers, timeout=120)


def _result(response: requests.Response) -> dict[str, object]:
    marker = '<script type="application/json" id="result">'
    text = response.text.split(marker, 1)[1].split("</script>", 1)[0]
    return dict(json.loads(unescape(text)))


def _signed(stack: Stack, nonce: str, now: float | None = None) -> str:
    """A state made with the deployment's own key (what /api/consent/start would hand out)."""
    return make_state(keyring_from_settings(Settings()), nonce, now=now)


def _stores() -> AzureStores:
    return AzureStores.open(StorageConfig.from_env())


def test_start_sets_a_scoped_cookie_and_sends_the_admin_to_entra(stack: Stack) -> None:
    response, nonce = _start(stack, stack.tenant_id)
    cookie = response.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/api/consent"):
        assert attribute in cookie
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == stack.sim.base_url
    assert location.path == f"/{stack.tenant_id}/v2.0/adminconsent"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == stack.app_id and query["scope"] == "https://graph.microsoft.com/.default"
    assert query["redirect_uri"] == f"{stack.functions_url}/api/consent/callback"
    assert nonce not in response.headers["location"]  # only its MAC travels through Entra
    bad = requests.get(f"{stack.functions_url}/api/consent/start", params={"tenant": "x/../y"},
                       allow_redirects=False, timeout=60)
    assert bad.status_code == 400


def test_callback_without_state_forged_or_from_another_browser_is_refused(stack: Stack) -> None:
    ok = {"admin_consent": "True", "tenant": stack.tenant_id}
    missing = _callback(stack, ok)
    assert missing.status_code == 400 and "no state" in missing.text
    _, nonce_a = _start(stack)
    _, nonce_b = _start(stack)
    state_a = _signed(stack, nonce_a)
    assert _callback(stack, {**ok, "state": state_a}).status_code == 400  # no cookie
    other = _callback(stack, {**ok, "state": state_a}, nonce_b)
    assert other.status_code == 400 and "another browser" in other.text
    forged = _callback(stack, {**ok, "state": state_a[:-2] + "AA"}, nonce_a)
    assert forged.status_code == 400
    expired = _callback(stack, {**ok, "state": _signed(stack, nonce_a, now=time.time() - 3600)}, nonce_a)
    assert expired.status_code == 400 and "expired" in expired.text
    # None of these started an onboarding.
    assert _stores().tenants.get_onboarding(stack.tenant_id) is None


def test_tenants_not_allowed_not_ids_or_unknown_get_a_clear_page(stack: Stack) -> None:
    fabrikam = stack.sim.seed()["tenants"][1]["id"]
    refused = stack.consent(fabrikam)  # the whole flow: Entra approves, we refuse
    assert refused.status_code == 403 and "not allowed" in refused.text
    nonce = _start(stack)[1]
    domain = _callback(stack, {"admin_consent": "True", "tenant": "contoso.test", "state": _signed(stack, nonce)},
                       nonce)
    assert domain.status_code == 400 and "not a tenant id" in domain.text
    unknown = _callback(stack, {"admin_consent": "True", "tenant": UNKNOWN, "state": _signed(stack, nonce)}, nonce)
    assert unknown.status_code == 400 and "Unknown tenant" in unknown.text
    declined = _callback(stack, {"error": "access_denied", "error_description": "AADSTS65004: declined",
                                 "state": _signed(stack, nonce)}, nonce)
    assert declined.status_code == 400 and "not granted" in declined.text


def test_consent_onboards_through_the_queue_once(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    users = len([u for u in stack.sim.seed()["tenants"][0]["users"] if u.get("mail")])
    result = stack.onboard()
    assert result["status"] == 200 and result["subscribed"] == users and result["errors"] == []
    stores = _stores()
    assert len(stores.subscriptions.list_subscriptions(stack.tenant_id)) == users
    # The same tenant again, upper-cased, with a good state: no subscription is added.
    nonce = _start(stack)[1]
    again = _callback(stack, {"admin_consent": "True", "tenant": stack.tenant_id.upper(),
                              "state": _signed(stack, nonce)}, nonce)
    assert again.status_code == 200 and _result(again)["tenant_id"] == stack.tenant_id
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        progress = stores.tenants.get_onboarding(stack.tenant_id)
        if progress is not None and progress.status == "done" and progress.pages:
            break
        time.sleep(0.2)
    assert progress is not None and progress.status == "done" and progress.subscribed == 0
    assert len(stores.subscriptions.list_subscriptions(stack.tenant_id)) == users
    assert len(stack.sim.control("GET", "/subscriptions")) == users
    # The admin API finds the tenant whatever the case of its id in the URL.
    monkeypatch.setenv("TAP365_FUNCTION_KEYS", "consent-admin-key")
    status = requests.get(f"{stack.functions_url}/api/manage/tenants/{stack.tenant_id.upper()}/status",
                          headers={"x-functions-key": "consent-admin-key"}, timeout=60)
    assert status.status_code == 200, status.text
    assert status.json()["subscription_count"] == users and status.json()["onboarding"]["status"] == "done"


def _timer(name: str) -> None:
    """Run one of function_app.py's timers here, against the stack's storage and tenant; the
    host's workers take the items it queues."""
    import function_app
    from connectors.service.runtime import reset_runtime

    reset_runtime()
    try:
        getattr(function_app, name)._function.get_user_function()(None)
    finally:
        reset_runtime()


def _journal_done(stores: AzureStores, tenant_id: str, immutable_id: str) -> bool:
    entry = stores.journal.get(tenant_id, immutable_id)
    return bool(entry and entry.done)


def _wait(check: object, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_timers_subscribe_new_mailboxes_and_recover_lost_mail_in_any_folder(stack: Stack) -> None:
    stores = _stores()
    assert stores.tenants.get_onboarding(stack.tenant_id) is not None  # onboarded by the test above
    stack.sim.control("POST", "/users", json={"tenant": stack.tenant_id, "userPrincipalName": "late.hire@contoso.test"})
    _timer("users_delta")
    _wait(lambda: any(s.mailbox == "late.hire@contoso.test"
                      for s in stores.subscriptions.list_subscriptions(stack.tenant_id)), "the new mailbox")

    # Lost notifications for mail in Junk Email: the resync timer's items find it.
    upn = stack.users[3]
    stack.sim.faults(drop_notifications_rate=1.0)
    raw = (f"From: Someone <someone@partner.example>\r\nTo: {upn}\r\nSubject: in junk\r\n"
           "Message-ID: <e2e-junk@partner.example>\r\n\r\nSee https://www.example.com/\r\n").encode()
    delivered = stack.sim.control("POST", "/deliver", params={"user": upn, "folder": "junkemail"}, data=raw,
                                  headers={"Content-Type": "message/rfc822"})
    time.sleep(1)
    stack.sim.faults()
    assert not _journal_done(stores, stack.tenant_id, delivered["immutableId"])
    _timer("resync_subscriptions")
    _wait(lambda: _journal_done(stores, stack.tenant_id, delivered["immutableId"]), "the resynced message")
