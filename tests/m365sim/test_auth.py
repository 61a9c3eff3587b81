"""Entra side: MSAL with a secret and with a certificate, Entra's error bodies, token checks."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from m365sim.testing import GRAPH_SCOPE, SimHandle, http_session

from .conftest import ADELE, LEGACY_APP


def test_msal_secret_token_carries_roles_and_tenant(sim: SimHandle) -> None:
    result = sim.msal_app().acquire_token_for_client([GRAPH_SCOPE])
    assert result.get("token_type") == "Bearer", result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    tenant, app = sim.tenant(0), sim.app(0)
    assert claims["tid"] == tenant["id"]
    assert claims["appid"] == app["clientId"]
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["appidacr"] == "1"
    assert set(claims["roles"]) == {"Mail.ReadWrite", "Mail-Advanced.ReadWrite", "User.Read.All", "Mail.Send"}
    assert claims["exp"] > claims["iat"]


def test_msal_certificate_assertion(sim: SimHandle) -> None:
    result = sim.msal_app(tenant="contoso.test", certificate=True).acquire_token_for_client([GRAPH_SCOPE])
    assert "access_token" in result, result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["appidacr"] == "2"
    assert sim.graph("GET", f"/users/{ADELE}", result["access_token"]).status_code == 200


def test_msal_certificate_with_sha1_thumbprint(sim: SimHandle) -> None:
    import msal

    app = sim.app(0)
    cert = app["certificates"][0]
    client = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential={"private_key": open(cert["keyPath"]).read(), "thumbprint": cert["thumbprint"]},
        authority=sim.authority(0),
        instance_discovery=False,
        http_client=http_session(sim.ca_path),
    )
    assert "access_token" in client.acquire_token_for_client([GRAPH_SCOPE])


def test_wrong_secret_gets_entra_error_body(sim: SimHandle) -> None:
    app = sim.app(0)
    response = sim.session.post(
        f"{sim.authority(0)}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["clientId"],
            "client_secret": "not-the-secret",
            "scope": GRAPH_SCOPE,
        },
    )
    assert response.status_code == 401  # what Entra answers for AADSTS7000215
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= body.keys()


def test_msal_reports_wrong_secret(sim: SimHandle) -> None:
    import msal

    client = msal.ConfidentialClientApplication(
        sim.app(0)["clientId"],
        client_credential="wrong",
        authority=sim.authority(0),
        instance_discovery=False,
        http_client=http_session(sim.ca_path),
    )
    result = client.acquire_token_for_client([GRAPH_SCOPE])
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]


@pytest.mark.parametrize(
    ("tenant", "client_id", "scope", "status", "code", "error"),
    [
        ("nowhere.test", None, GRAPH_SCOPE, 400, 90002, "invalid_request"),
        (None, "11111111-2222-3333-4444-555555555555", GRAPH_SCOPE, 400, 700016, "unauthorized_client"),
        (None, None, "https://graph.microsoft.com/Mail.Read", 400, 1002012, "invalid_scope"),
        (None, None, "api://other/.default", 400, 500011, "invalid_resource"),
    ],
)
def test_token_endpoint_errors(
    sim: SimHandle, tenant: str | None, client_id: str | None, scope: str, status: int, code: int, error: str
) -> None:
    app = sim.app(0)
    response = sim.session.post(
        f"{sim.base_url}/{tenant or sim.tenant(0)['id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id or app["clientId"],
            "client_secret": app["secrets"][0],
            "scope": scope,
        },
    )
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_codes"] == [code]


def test_app_not_consented_in_other_tenant(sim: SimHandle) -> None:
    legacy = sim.app(LEGACY_APP)
    response = sim.session.post(
        f"{sim.authority('fabrikam.test')}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": legacy["clientId"],
            "client_secret": legacy["secrets"][0],
            "scope": GRAPH_SCOPE,
        },
    )
    assert response.json()["error_codes"] == [700016]


def test_discovery_documents_point_at_the_sim(sim: SimHandle) -> None:
    tenant = sim.tenant(0)
    config = sim.session.get(f"{sim.base_url}/contoso.test/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{sim.base_url}/{tenant['id']}/oauth2/v2.0/token"
    assert config["issuer"] == f"{sim.base_url}/{tenant['id']}/v2.0"
    keys = sim.session.get(config["jwks_uri"]).json()["keys"]
    token = sim.token()
    assert jwt.get_unverified_header(token)["kid"] == keys[0]["kid"]
    # The JWKS really verifies the sim's tokens.
    key = jwt.PyJWK(keys[0]).key
    jwt.decode(token, key, algorithms=["RS256"], audience="https://graph.microsoft.com")
    unknown = sim.session.get(f"{sim.base_url}/nowhere.test/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400


def test_grant_changes_apply_to_new_tokens(sim: SimHandle) -> None:
    old = sim.token()
    sim.grant(["Mail.Read"])
    new = sim.token()
    assert jwt.decode(new, options={"verify_signature": False})["roles"] == ["Mail.Read"]
    assert "Mail.Send" in jwt.decode(old, options={"verify_signature": False})["roles"]
    # Without User.Read.All the directory is closed; reading mail still works.
    assert sim.graph("GET", "/users", new).json()["error"]["code"] == "Authorization_RequestDenied"
    assert sim.graph("GET", f"/users/{ADELE}/messages", new).status_code == 200
    sim.grant([])
    bare = sim.token()
    assert "roles" not in jwt.decode(bare, options={"verify_signature": False})
    assert sim.graph("GET", f"/users/{ADELE}/messages", bare).json()["error"]["code"] == "ErrorAccessDenied"


def test_bearer_token_is_verified(sim: SimHandle) -> None:
    token = sim.token()
    missing = sim.session.get(f"{sim.graph_url}/users")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "WWW-Authenticate" in missing.headers
    claims = jwt.decode(token, options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256")
    assert sim.graph("GET", "/users", forged).status_code == 401
    sim.advance_clock(3600)
    expired = sim.graph("GET", "/users", token)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]
    assert sim.graph("GET", "/users", sim.token()).status_code == 200  # fresh token, sim time


def test_admin_consent_redirects_and_grants(sim: SimHandle) -> None:
    legacy = sim.app(LEGACY_APP)
    response = sim.session.get(
        f"{sim.base_url}/fabrikam.test/v2.0/adminconsent",
        params={
            "client_id": legacy["clientId"],
            "redirect_uri": "https://app.test/consent",
            "state": "xyz",
            "scope": GRAPH_SCOPE,
        },
        allow_redirects=False,
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://app.test/consent?admin_consent=True")
    assert sim.tenant("fabrikam.test")["id"] in location and "state=xyz" in location
    assert sim.token(tenant="fabrikam.test", app=LEGACY_APP)


def test_rbac_mailbox_scope(sim: SimHandle) -> None:
    sim.grant(["Mail.ReadWrite", "User.Read.All"], mailboxes=[ADELE])
    token = sim.token()
    assert sim.graph("GET", f"/users/{ADELE}/messages", token).status_code == 200
    denied = sim.graph("GET", "/users/alex.wilber@contoso.test/messages", token)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorAccessDenied"


def test_v1_token_endpoint_with_resource(sim: SimHandle) -> None:
    app = sim.app(0)
    body = sim.session.post(
        f"{sim.authority(0)}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["clientId"],
            "client_secret": app["secrets"][0],
            "resource": "https://graph.microsoft.com",
        },
    ).json()
    assert body["resource"] == "https://graph.microsoft.com" and "access_token" in body


def test_admin_consent_can_be_declined(sim: SimHandle) -> None:
    sim.configure(admin_consent_approves=False)
    response = sim.session.get(
        f"{sim.base_url}/common/adminconsent",
        params={
            "client_id": sim.app(LEGACY_APP)["clientId"],
            "redirect_uri": "https://app.test/consent",
            "domain_hint": "fabrikam.test",
        },
        allow_redirects=False,
    )
    assert response.status_code == 302 and "error=access_denied" in response.headers["Location"]
    assert "AADSTS65004" in response.headers["Location"].replace("%3A", ":")
