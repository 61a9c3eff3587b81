"""The connector with the real msal and msgraph-sdk against m365sim (HTTPS on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.graph import GraphApiError, GraphApp, GraphAuthError, fetch_message
from connectors.graph.auth import TenantCredential, token_roles
from connectors.graph.config import GraphSettings
from m365sim.testing import SimHandle

from .conftest import ADELE, graph_requests, mail, make_settings, run

# msgraph-sdk's generated request builders warn about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")


def _token(settings: GraphSettings, tenant_id: str) -> str:
    with TenantCredential(settings, tenant_id) as cred:
        return cred.get_token("https://graph.microsoft.com/.default").token


def test_token_with_secret(settings: GraphSettings, tenant_id: str) -> None:
    with TenantCredential(settings, tenant_id) as cred:
        token = cred.get_token("https://graph.microsoft.com/.default")
        assert token.expires_on > 0
        assert "Mail-Advanced.ReadWrite" in token_roles(token.token)
        # MSAL answers the second call from its cache.
        assert cred.get_token("https://graph.microsoft.com/.default").token == token.token


def test_token_with_certificate(sim: SimHandle, tenant_id: str, cert_pem: Path) -> None:
    settings = make_settings(sim, client_secret="", certificate_path=str(cert_pem))
    assert "Mail.ReadWrite" in token_roles(_token(settings, tenant_id))
    thumb = sim.app(0)["certificates"][0]["thumbprint"]
    settings = make_settings(
        sim, client_secret="", certificate_path=str(cert_pem), certificate_thumbprint=thumb
    )
    assert _token(settings, tenant_id)


def test_token_with_pfx(sim: SimHandle, tenant_id: str, cert_pem: Path, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    data = cert_pem.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    cert = x509.load_pem_x509_certificate(data)
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"app", key, cert, None, serialization.BestAvailableEncryption(b"pw")  # type: ignore[arg-type]
        )
    )
    settings = make_settings(
        sim, client_secret="", certificate_path=str(pfx), certificate_password="pw"
    )
    assert "Mail.ReadWrite" in token_roles(_token(settings, tenant_id))


def test_bad_secret_names_the_aadsts_code(sim: SimHandle, tenant_id: str) -> None:
    settings = make_settings(sim, client_secret="wrong")
    with pytest.raises(GraphAuthError) as err:
        _token(settings, tenant_id)
    assert err.value.aadsts == 7000215
    assert "AADSTS7000215" in str(err.value) and "secret" in str(err.value)


def test_second_tenant_uses_its_own_credential(settings: GraphSettings, sim: SimHandle) -> None:
    other = str(sim.tenant(1)["id"])

    async def go() -> int:
        async with GraphApp(settings) as app:
            data = await app.tenant(other).get_json("/users", {"$select": "id,userPrincipalName"})
            return len(data["value"])

    assert run(go()) == 2


def test_fetch_message_with_small_attachments_is_one_request(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    delivered = sim.deliver(ADELE, mail(attachments=2))

    async def go() -> tuple[int, object]:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            await graph.access_token()  # token first: only Graph requests are counted below
            before = graph_requests(sim)
            fetched = await fetch_message(graph, ADELE, delivered["immutableId"])
            return graph_requests(sim) - before, fetched

    used, fetched = run(go())
    assert used == 1
    assert fetched.requests == 1  # type: ignore[attr-defined]
    assert fetched.message_id == delivered["immutableId"]  # type: ignore[attr-defined]
    assert fetched.folder_id == delivered["folderId"]  # type: ignore[attr-defined]
    assert fetched.change_key  # type: ignore[attr-defined]
    message = fetched.message  # type: ignore[attr-defined]
    assert message.subject == "Quarterly report"
    assert [a.name for a in message.attachments] == ["r0.pdf", "r1.pdf"]
    assert all(len(a.data) == 2048 and not a.truncated for a in message.attachments)
    assert any(name.lower() == "message-id" for name, _ in message.headers)


def test_fetch_expands_item_attachments(sim: SimHandle, settings: GraphSettings, tenant_id: str) -> None:
    delivered = sim.deliver(ADELE, mail("With item", attachments=0, item=True))

    async def go() -> object:
        async with GraphApp(settings) as app:
            return await fetch_message(app.tenant(tenant_id), ADELE, delivered["immutableId"])

    fetched = run(go())
    assert fetched.requests == 2  # type: ignore[attr-defined]
    (inner,) = fetched.message.attached_messages  # type: ignore[attr-defined]
    assert inner.subject == "Forwarded invoice"


def test_fetch_unknown_message_raises_graph_error(settings: GraphSettings, tenant_id: str) -> None:
    async def go() -> None:
        async with GraphApp(settings) as app:
            await fetch_message(app.tenant(tenant_id), ADELE, "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AAAA=")

    with pytest.raises(GraphApiError) as err:
        run(go())
    assert err.value.status in (400, 404)


def test_attachments_without_content_come_from_value(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    """Graph may leave contentBytes out (large files): one /$value request per such file."""
    from connectors.graph.messages import MESSAGE_SELECT, complete_attachments, message_path

    msg_id = sim.deliver(ADELE, mail("Big", attachments=2, size=5000))["immutableId"]

    async def go(limit: int) -> tuple[int, list[object]]:
        async with GraphApp(make_settings(sim, max_attachment_bytes=limit)) as app:
            graph = app.tenant(tenant_id)
            raw = await graph.get_json(
                message_path(ADELE, msg_id), {"$select": MESSAGE_SELECT, "$expand": "attachments"}
            )
            for att in raw["attachments"]:
                del att["contentBytes"]
            used = await complete_attachments(graph, ADELE, msg_id, raw)
            return used, [att.get("contentBytes") for att in raw["attachments"]]

    used, contents = run(go(10_000))
    assert used == 2
    assert all(isinstance(c, str) and len(c) > 6000 for c in contents)
    used, contents = run(go(1000))  # over the limit: not downloaded, left truncated
    assert used == 0 and contents == [None, None]


def test_rejected_token_is_refreshed_once(sim: SimHandle, settings: GraphSettings, tenant_id: str) -> None:
    msg_id = sim.deliver(ADELE, mail("Late"))["immutableId"]

    async def go() -> str:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            first = await graph.access_token()
            sim.advance_clock(7200)  # Graph now calls our cached token expired (401)
            fetched = await fetch_message(graph, ADELE, msg_id)
            assert await graph.access_token() != first
            return fetched.message.subject

    assert run(go()) == "Late"
    assert sim.stats()["requests"]["by_status"].get("401") == 1


def test_concurrent_401s_share_one_refresh(sim: SimHandle, settings: GraphSettings, tenant_id: str) -> None:
    import asyncio

    ids = [sim.deliver(ADELE, mail(f"P{i}"))["immutableId"] for i in range(8)]

    async def go() -> int:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            await graph.access_token()
            sim.advance_clock(7200)
            before = sum(sim.stats()["token_requests"].values())
            await asyncio.gather(*(fetch_message(graph, ADELE, i) for i in ids))
            return sum(sim.stats()["token_requests"].values()) - before

    assert run(go()) == 1


def test_signing_keys_verify_the_sims_tokens(sim: SimHandle, settings: GraphSettings, tenant_id: str) -> None:
    import jwt

    from connectors.graph.auth import fetch_signing_keys

    keys = fetch_signing_keys(settings, tenant_id)
    token = _token(settings, tenant_id)
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in keys["keys"] if k["kid"] == kid)
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience="https://graph.microsoft.com")
    assert claims["tid"] == tenant_id


def test_one_app_serves_two_tenants(sim: SimHandle, settings: GraphSettings, tenant_id: str) -> None:
    other = str(sim.tenant(1)["id"])
    bob = "bob.smith@fabrikam.test"
    in_contoso = sim.deliver(ADELE, mail("Contoso mail"))["immutableId"]
    in_fabrikam = sim.deliver(bob, mail("Fabrikam mail"))["immutableId"]

    async def go() -> tuple[str, str]:
        async with GraphApp(settings) as app:
            first = await app.fetch_message(tenant_id, ADELE, in_contoso)
            second = await app.fetch_message(other, bob, in_fabrikam)
            return first.message.subject, second.message.subject

    # Each tenant's mailbox only accepts that tenant's token: two credentials were used.
    assert run(go()) == ("Contoso mail", "Fabrikam mail")
