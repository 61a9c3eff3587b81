"""Access tokens (RS256 JWTs signed by the sim) and client-assertion checks, as Entra does them."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from . import certs, ids
from .clock import Clock
from .directory import App, Directory, Tenant
from .errors import OAuthError, unauthorized

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_AUDIENCES = ("https://graph.microsoft.com", "https://graph.microsoft.com/", GRAPH_APP_ID)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW_SECONDS = 300  # Entra tolerates five minutes of skew on client assertions


@dataclass(frozen=True)
class TokenClaims:
    tenant_id: str
    app_id: str
    roles: frozenset[str]
    raw: dict[str, Any]


class TokenService:
    def __init__(self, signing: certs.KeyPair, clock: Clock) -> None:
        self._signing = signing
        self._clock = clock
        self.kid = certs.x5t(signing.cert)
        self._public_key = signing.key.public_key()

    def jwks(self, issuer: str) -> dict[str, Any]:
        numbers = self._public_key.public_numbers()

        def b64int(value: int) -> str:
            return certs.b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        der = self._signing.cert.public_bytes(serialization.Encoding.DER)
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "x5t": self.kid,
                    "n": b64int(numbers.n),
                    "e": b64int(numbers.e),
                    "x5c": [base64.b64encode(der).decode("ascii")],
                    "issuer": issuer,
                }
            ]
        }

    def issue(self, tenant: Tenant, app: App, roles: set[str], appidacr: str, lifetime: int) -> str:
        now = int(self._clock.time())
        sp_object_id = ids.stable_guid("sp", tenant.id, app.client_id)
        claims: dict[str, Any] = {
            "aud": "https://graph.microsoft.com",
            "iss": f"https://sts.windows.net/{tenant.id}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "aio": certs.b64url(uuid.uuid4().bytes),
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": appidacr,
            "idp": f"https://sts.windows.net/{tenant.id}/",
            "idtyp": "app",
            "oid": sp_object_id,
            "rh": "0.m365sim",
            "sub": sp_object_id,
            "tenant_region_scope": "EU",
            "tid": tenant.id,
            "uti": certs.b64url(uuid.uuid4().bytes)[:22],
            "ver": "1.0",
            "wids": ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"],
            "xms_tcdt": now - 86400 * 365,
        }
        if roles:  # Entra omits the claim when no app role is granted
            claims["roles"] = sorted(roles)
        return jwt.encode(
            claims,
            self._signing.key,
            algorithm="RS256",
            headers={"typ": "JWT", "x5t": self.kid, "kid": self.kid},
        )

    def verify(self, authorization: str | None, directory: Directory) -> TokenClaims:
        """Validate a Graph bearer token: signature, lifetime, audience, known tenant."""
        if not authorization or not authorization.strip():
            raise unauthorized("Access token is empty.")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Access token is empty.")
        token = token.strip()
        if token.count(".") != 2:
            raise unauthorized("IDX14100: JWT is not well formed, there are no dots (.).")
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                audience=list(GRAPH_AUDIENCES),
                # Lifetime is checked below against the sim clock (tests move time forward).
                options={
                    "require": ["exp", "tid", "appid"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise unauthorized("Access token validation failure. Invalid audience.") from exc
        except jwt.InvalidSignatureError as exc:
            raise unauthorized("Access token validation failure. Signature validation failed.") from exc
        except jwt.PyJWTError as exc:
            raise unauthorized("Access token validation failure.") from exc
        now = self._clock.time()
        if now >= float(claims["exp"]):
            raise unauthorized("Lifetime validation failed, the token is expired.")
        if now + CLOCK_SKEW_SECONDS < float(claims.get("nbf", 0)):
            raise unauthorized("Lifetime validation failed, the token is not yet valid.")
        tenant_id = str(claims["tid"]).lower()
        if tenant_id not in directory.tenants:
            raise unauthorized("Access token validation failure. Invalid tenant.")
        roles = claims.get("roles") or []
        return TokenClaims(tenant_id, str(claims["appid"]).lower(), frozenset(roles), claims)


def verify_client_assertion(
    assertion: str, app: App, client_id: str, audiences: set[str], clock: Clock
) -> None:
    """Check a private_key_jwt assertion the way Entra does; raise OAuthError on failure."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise OAuthError(401, "invalid_client", 50027, "JWT token is invalid or malformed.") from exc
    x5t = header.get("x5t")
    x5t_s256 = header.get("x5t#S256")
    cert = app.find_certificate(x5t, x5t_s256)
    if cert is None:
        shown = x5t_s256 or x5t or ""
        raise OAuthError(
            401,
            "invalid_client",
            700027,
            "Client assertion failed signature validation. (Reason - The key was not found., "
            f"Thumbprint of key used by client: '{shown}', Please visit the Azure Portal, "
            f"Graph Explorer or directly use MS Graph to see configured keys for app Id "
            f"'{app.client_id}'.)",
        )
    try:
        claims = jwt.decode(
            assertion,
            cert.public_key,
            algorithms=["RS256", "PS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise OAuthError(
            401,
            "invalid_client",
            700027,
            "Client assertion failed signature validation. (Reason - The provided signature "
            "value did not match the expected signature value.)",
        ) from exc
    now = clock.time()
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if (
        not isinstance(exp, int | float)
        or now > exp + CLOCK_SKEW_SECONDS
        or (isinstance(nbf, int | float) and now < nbf - CLOCK_SKEW_SECONDS)
    ):
        raise OAuthError(
            401, "invalid_client", 700024, "Client assertion is not within its valid time range."
        )
    aud = claims.get("aud")
    aud_values = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a.rstrip("/") in audiences for a in aud_values):
        raise OAuthError(
            401, "invalid_client", 700023, "Client assertion audience claim does not match Realm issuer."
        )
    if str(claims.get("iss", "")).lower() != client_id or str(claims.get("sub", "")).lower() != client_id:
        raise OAuthError(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        )
