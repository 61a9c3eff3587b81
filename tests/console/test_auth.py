"""Who may use the console: principal parsing, forged headers, the development identity, roles,
tenants. Through the console's handler with the stores on Azurite."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from connectors.console.app import ConsoleApp, ConsoleResponse, Context, page
from connectors.console.auth import (
    ADMIN,
    ANALYST,
    AuthError,
    authenticate,
    from_loopback,
    parse_dev_identity,
    parse_principal,
)
from connectors.service.runtime import Runtime
from connectors.settings import Settings
from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import Tenant

from .conftest import ADMIN_UPN, OTHER_TENANT, PLATFORM, TENANT, Client, principal_header, signed_in, text
from .helpers import csrf_token


def b64(data: object) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


# -- parsing -----------------------------------------------------------------------------------------
def test_valid_principal_gives_name_upn_tenant_and_roles() -> None:
    value = principal_header("Ada@Contoso.example", (ADMIN, "Other.Role"), TENANT.upper(), name="Ada Lovelace")
    p = parse_principal(value, {"x-ms-client-principal-id": "oid-1"})
    assert (p.name, p.upn, p.tenant_id) == ("Ada Lovelace", "Ada@Contoso.example", TENANT)
    assert p.roles == frozenset({ADMIN}) and p.is_admin and p.role == ADMIN
    assert p.object_id == "oid-1" and not p.development


def test_role_claim_named_by_role_typ_and_short_tid_claim() -> None:
    data = {"auth_typ": "aad", "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
            "claims": [{"typ": "preferred_username", "val": "a@b.example"}, {"typ": "tid", "val": TENANT},
                       {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": ANALYST}]}
    p = parse_principal(b64(data))
    assert p.role == ANALYST and not p.is_admin and p.tenant_id == TENANT


@pytest.mark.parametrize("value", [
    "not base64 at all!!", base64.b64encode(b"\xff\xfe garbage").decode(), b64([1, 2, 3]), b64("text"),
    "A" * 40_000,
])
def test_garbage_principal_refused(value: str) -> None:
    with pytest.raises(AuthError) as err:
        parse_principal(value)
    assert err.value.status == 401


def test_principal_without_tenant_refused() -> None:
    with pytest.raises(AuthError, match="tenant"):
        parse_principal(principal_header(ADMIN_UPN, (ADMIN,), tenant=None))


def test_claims_of_the_wrong_shape_are_ignored_not_fatal() -> None:
    data = {"claims": [None, 3, {"typ": 1, "val": "x"}, {"typ": "tid", "val": TENANT},
                       {"typ": "preferred_username", "val": "a@b.example"}, {"typ": "roles", "val": ["x"]}]}
    p = parse_principal(b64(data))
    assert p.upn == "a@b.example" and p.role == ""


def test_dev_identity_parsing() -> None:
    p = parse_dev_identity(f"dev@contoso.example, {ANALYST} ,{TENANT.upper()}")
    assert (p.upn, p.role, p.tenant_id, p.development) == ("dev@contoso.example", ANALYST, TENANT, True)
    for bad in ("dev@contoso.example", f"dev@x,{ADMIN}", f"dev@x,Owner,{TENANT}", f"dev@x,{ADMIN},bad tenant!"):
        with pytest.raises(ValueError):
            parse_dev_identity(bad)


@pytest.mark.parametrize(("forwarded", "loopback"), [
    ("127.0.0.1:5555", True), ("[::1]:5555", True), ("10.0.0.9:1234, 127.0.0.1:5555", True),
    ("127.0.0.1:1, 203.0.113.7:5555", False),  # a client's own "127.0.0.1" comes first: not believed
    ("203.0.113.7:5555", False), ("", False), ("garbage", False),
])
def test_loopback_is_the_last_hop_only(forwarded: str, loopback: bool) -> None:
    assert from_loopback({"x-forwarded-for": forwarded} if forwarded else {}) is loopback


@page("/_tests/people-post", methods=("POST",), people=True)
def _people_post(ctx: Context) -> ConsoleResponse:
    """A page for people that takes a POST (registered by this test module only)."""
    return ctx.redirect("/me")


# -- the decision ------------------------------------------------------------------------------------
DEV = f"dev@contoso.example,{ADMIN},{TENANT}"
LOCAL = {"x-forwarded-for": "127.0.0.1:50000"}


def test_forged_principal_headers_refused_without_the_platform() -> None:
    for headers in (signed_in(), {"x-ms-client-principal-name": ADMIN_UPN}, {"X-MS-CLIENT-PRINCIPAL-IDP": "aad"}):
        lowered = {k.lower(): v for k, v in {**headers, **LOCAL}.items()}
        with pytest.raises(AuthError) as err:
            authenticate(lowered, DEV, environ={})
        assert err.value.status == 400


def test_dev_identity_only_from_loopback_and_only_when_configured() -> None:
    assert authenticate(LOCAL, DEV, environ={}).upn == "dev@contoso.example"
    with pytest.raises(AuthError) as err:
        authenticate({"x-forwarded-for": "203.0.113.7:1"}, DEV, environ={})
    assert err.value.status == 401
    with pytest.raises(AuthError):
        authenticate(LOCAL, "", environ={})
    # App Service authentication on: the development identity is never used.
    with pytest.raises(AuthError) as err:
        authenticate(LOCAL, DEV, environ=PLATFORM)
    assert err.value.status == 401


def test_platform_principal_used_when_the_platform_is_on() -> None:
    assert authenticate(signed_in(), "", environ=PLATFORM).upn == ADMIN_UPN


# -- through the handler -----------------------------------------------------------------------------
def test_no_principal_gets_a_sign_in_page(client: Client) -> None:
    r = client.get("/", headers={}, replace_headers=True)
    assert r.status == 401
    assert "Sign in to use the console" in text(r) and "TAP365_CONSOLE_DEV_IDENTITY" in text(r)
    assert 'aria-label="Console sections"' not in text(r)  # no navigation for nobody
    # App Service authentication is on (the fixture's environment): its login is one link away.
    assert 'href="/.auth/login/aad?post_login_redirect_uri=%2Fapi%2Fconsole%2F"' in text(r)


def test_forged_headers_refused_by_the_handler(runtime: Runtime) -> None:
    app = ConsoleApp(runtime, environ={})  # no App Service authentication in front
    r = Client(app).get("/audit", headers=LOCAL)
    assert r.status == 400 and "not set by the platform" in text(r)


def test_dev_identity_through_the_handler(stores: AzureStores, tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, home_tenant_id=TENANT, console_dev_identity=DEV)
    app = ConsoleApp(Runtime.create(settings, storage=stores.config), environ={})
    ok = Client(app, headers=dict(LOCAL)).get("/audit")
    assert ok.status == 200 and "dev@contoso.example" in text(ok)
    remote = Client(app, headers={"x-forwarded-for": "198.51.100.4:443"}).get("/audit")
    assert remote.status == 401


def test_person_without_a_console_role_refused(client: Client) -> None:
    r = client.get("/", headers=signed_in(role="Some.Other.Role"))
    assert r.status == 403 and "No console role" in text(r)


def test_other_tenant_refused(client: Client) -> None:
    r = client.get("/audit", headers=signed_in(tenant=OTHER_TENANT))
    assert r.status == 403 and "Tenant not served" in text(r)


def test_onboarded_tenant_served_and_offboarded_refused(client: Client, runtime: Runtime) -> None:
    from datetime import UTC, datetime

    runtime.stores.tenants.put_tenant(Tenant(OTHER_TENANT, "Fabrikam", datetime.now(UTC)))
    assert client.get("/audit", headers=signed_in(tenant=OTHER_TENANT)).status == 200
    runtime.stores.tenants.put_tenant(Tenant(OTHER_TENANT, "Fabrikam", datetime.now(UTC), status="offboarded"))
    assert client.get("/audit", headers=signed_in(tenant=OTHER_TENANT)).status == 403


def test_analyst_sees_pages_but_every_post_is_refused(analyst: Client) -> None:
    page = analyst.get("/audit")
    assert page.status == 200 and "(read-only)" in text(page)
    token = csrf_token(page)
    r = analyst.post("/audit", {"csrf_token": token})
    assert r.status == 403 and "Read-only role" in text(r)


def test_pages_for_people_need_no_console_role(client: Client) -> None:
    person = signed_in("megan@contoso.example", role="")
    assert client.get("/", headers=person).status == 403
    assert client.post("/audit", {}, headers=person).status == 403
    me = client.get("/me", headers=person)
    body = text(me)
    assert me.status == 200 and 'id="role">none<' in body and "megan@contoso.example" in body
    assert 'aria-label="Console sections"' not in body  # no console to navigate
    # Their POSTs to a page for people pass the checks every POST passes (CSRF), not the role check.
    assert client.post("/_tests/people-post", {}, headers=person).status == 403
    assert client.post("/_tests/people-post", {"csrf_token": csrf_token(me)}, headers=person).status == 303
    assert client.post("/me", {"csrf_token": csrf_token(me)}, headers=person).status == 403  # no such page
    # Another tenant's person is refused even there.
    assert client.get("/me", headers=signed_in("eve@fabrikam.example", role="", tenant=OTHER_TENANT)).status == 403
    assert 'id="role">TAP365.Admin<' in text(client.get("/me"))
