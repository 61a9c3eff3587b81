"""App-only tokens from Entra through MSAL, one credential per tenant, as azure-core credentials.

msgraph-sdk takes an azure-core ``TokenCredential``/``AsyncTokenCredential``; MSAL does the
OAuth work and keeps the token cache (it answers from the cache until the token nears expiry).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jwt
import msal  # type: ignore[import-untyped]
import requests
from azure.core.credentials import AccessToken, AccessTokenInfo
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .config import GRAPH_SCOPE, GraphSettings
from .errors import GraphAuthError

_MICROSOFT_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
)


def http_session(settings: GraphSettings) -> requests.Session:
    """A session for MSAL that trusts only the configured CA bundle.

    ``trust_env = False`` because REQUESTS_CA_BUNDLE would otherwise override ``verify``.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = settings.verify
    return session


def client_credential(settings: GraphSettings) -> str | dict[str, str]:
    """MSAL's ``client_credential``: the certificate when configured, else the secret."""
    settings.check()
    if not settings.certificate_path:
        return settings.client_secret
    if settings.certificate_path.lower().endswith((".pfx", ".p12")):
        # MSAL reads PKCS#12 itself and sends the SHA-256 thumbprint.
        pfx: dict[str, str] = {"private_key_pfx_path": settings.certificate_path}
        if settings.certificate_password:
            pfx["passphrase"] = settings.certificate_password
        return pfx
    pem = Path(settings.certificate_path).read_bytes()
    password = settings.certificate_password.encode() or None
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{settings.certificate_path}: no readable private key in the PEM "
            "(it must hold the certificate and its key; set TAP365_GRAPH_CERTIFICATE_PASSWORD "
            "if the key is encrypted)"
        ) from exc
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    if settings.certificate_thumbprint:
        return {"private_key": key_pem, "thumbprint": settings.certificate_thumbprint.replace(":", "")}
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise ValueError(
            f"{settings.certificate_path}: no certificate in the PEM; add it or set "
            "TAP365_GRAPH_CERTIFICATE_THUMBPRINT"
        ) from exc
    # Without a thumbprint MSAL derives the SHA-256 one (x5t#S256) from the certificate.
    return {
        "private_key": key_pem,
        "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def fetch_signing_keys(settings: GraphSettings, tenant: str = "common") -> dict[str, Any]:
    """Entra's token-signing keys (JWKS), to verify rich notifications' ``validationTokens``.
    Cache the result for hours; Entra rotates keys rarely and announces them ahead."""
    with http_session(settings) as session:
        response = session.get(
            f"{settings.authority_host}/{tenant}/discovery/v2.0/keys",
            timeout=(settings.connect_timeout, settings.read_timeout),
        )
    if response.status_code != 200:
        raise GraphAuthError(tenant, "jwks_unavailable", f"HTTP {response.status_code} fetching signing keys")
    data = response.json()
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise GraphAuthError(tenant, "jwks_unavailable", "signing keys document has no 'keys'")
    return data


def token_roles(access_token: str) -> list[str]:
    """The ``roles`` claim (application permissions granted). Our own token, just received
    over TLS from Entra: read, not verified (Graph verifies it)."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    return sorted(str(r) for r in claims.get("roles") or [])


class TenantCredential:
    """azure-core sync and async token credential for one tenant, backed by MSAL."""

    def __init__(
        self,
        settings: GraphSettings,
        tenant_id: str,
        *,
        credential: str | dict[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.tenant_id = tenant_id
        self._session = session or http_session(settings)
        host = urlparse(settings.authority_host).hostname or ""
        microsoft = host.lower() in _MICROSOFT_HOSTS
        try:
            self._app = msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=credential if credential is not None else client_credential(settings),
                authority=f"{settings.authority_host}/{tenant_id}",
                # A non-Microsoft host (the simulator) is not in Microsoft's instance list.
                validate_authority=microsoft,
                instance_discovery=microsoft,
                http_client=self._session,
                token_cache=msal.TokenCache(),
                timeout=(settings.connect_timeout, settings.read_timeout),
            )
        except ValueError as exc:
            # MSAL reads the authority's metadata here: an unknown tenant fails with a ValueError.
            self._session.close()
            raise GraphAuthError(
                tenant_id, "invalid_authority", f"unknown tenant or authority: {exc}"
            ) from exc
        except requests.RequestException as exc:
            self._session.close()
            raise GraphAuthError(
                tenant_id, "network_error", f"cannot reach {settings.authority_host}: {exc}"
            ) from exc
        self._lock = threading.Lock()  # MSAL's cache is safe, but one refresh at a time is enough

    def acquire(self, scope: str = GRAPH_SCOPE) -> dict[str, Any]:
        """The raw MSAL result; raises GraphAuthError on an OAuth error."""
        with self._lock:
            try:
                result = self._app.acquire_token_for_client(scopes=[scope])
            except requests.RequestException as exc:
                raise GraphAuthError(
                    self.tenant_id, "network_error", f"cannot reach {self.settings.authority_host}: {exc}"
                ) from exc
            except ValueError as exc:  # MSAL raises ValueError for unusable authorities/metadata
                raise GraphAuthError(self.tenant_id, "invalid_authority", str(exc)) from exc
        if "access_token" not in result:
            raise GraphAuthError.from_msal(self.tenant_id, result)
        return result

    def refresh(self, rejected: str, scope: str = GRAPH_SCOPE) -> str:
        """A token other than ``rejected`` (Graph answered 401: expired early, revoked, roles
        changed). Concurrent callers share one refresh: whoever comes second finds it done."""
        with self._lock:
            try:
                current = self._app.acquire_token_for_client(scopes=[scope]).get("access_token")
            except requests.RequestException:
                current = None
            if current and current != rejected:
                return str(current)
            cache = self._app.token_cache
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)
        return str(self.acquire(scope)["access_token"])

    def _token(self, scopes: tuple[str, ...]) -> AccessToken:
        scope = scopes[0] if scopes else GRAPH_SCOPE
        result = self.acquire(scope)
        expires_on = int(time.time()) + int(result.get("expires_in", 0))
        return AccessToken(result["access_token"], expires_on)

    # azure.core.credentials.TokenCredential
    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        return self._token(scopes)

    # azure.core.credentials.SupportsTokenInfo
    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        token = self._token(scopes)
        return AccessTokenInfo(token.token, token.expires_on)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> TenantCredential:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


class AsyncTenantCredential:
    """``AsyncTokenCredential`` view of a TenantCredential (MSAL is sync: run it in a thread)."""

    def __init__(self, sync: TenantCredential) -> None:
        self.sync = sync

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return await asyncio.to_thread(self.sync.get_token, *scopes, **kwargs)

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return await asyncio.to_thread(self.sync.get_token_info, *scopes, options=options)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncTenantCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


class CredentialPool:
    """One credential per tenant, sharing the app's configuration and key material."""

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings
        self._credential = client_credential(settings)
        self._by_tenant: dict[str, TenantCredential] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str) -> TenantCredential:
        key = tenant_id.lower()
        with self._lock:
            cred = self._by_tenant.get(key)
            if cred is None:
                cred = TenantCredential(self.settings, tenant_id, credential=self._credential)
                self._by_tenant[key] = cred
            return cred

    def close(self) -> None:
        for cred in self._by_tenant.values():
            cred.close()
