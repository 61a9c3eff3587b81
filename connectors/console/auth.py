"""Who is asking: the signed-in person from App Service authentication, or the development
identity on a developer's machine.

In Azure, App Service authentication (Easy Auth) signs people in with Entra ID, strips any
``X-MS-CLIENT-PRINCIPAL*`` header a client sent, sets its own, and sets ``WEBSITE_AUTH_ENABLED``
in the app's environment. Principal headers are therefore believed only when that variable says
the platform is in front; anywhere else a request carrying them is refused, since anybody could
have written them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ADMIN = "TAP365.Admin"
ANALYST = "TAP365.Analyst"
ROLES = (ADMIN, ANALYST)

PRINCIPAL_HEADER = "x-ms-client-principal"
#: Every header App Service authentication sets about the person (all start with this).
PRINCIPAL_PREFIX = "x-ms-client-principal"
#: A principal header larger than this is refused unread (Entra tokens with many groups stay far
#: below; App Service itself caps request headers well under 64 kB).
MAX_PRINCIPAL_BYTES = 32 * 1024
#: Claims read from one principal at most (the rest are ignored).
MAX_CLAIMS = 500

TENANT_CLAIMS = ("http://schemas.microsoft.com/identity/claims/tenantid", "tid")
ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
NAME_CLAIMS = ("name",)
UPN_CLAIMS = (
    "preferred_username",
    "upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
)
OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$")


class ConsoleError(Exception):
    """A request answered with an error page: ``status`` (the HTTP answer), a title, a sentence."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail


class AuthError(ConsoleError):
    """The person cannot be signed in (400, 401, 403); the console links to the sign-in."""


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in person. ``tenant_id`` is lower-case, as the stores keep tenant ids."""

    name: str
    upn: str
    tenant_id: str
    roles: frozenset[str]
    object_id: str = ""
    idp: str = "aad"
    #: Signed in by TAP365_CONSOLE_DEV_IDENTITY, not by the platform.
    development: bool = False

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def role(self) -> str:
        """The strongest console role held (Admin over Analyst); "" for none."""
        return next((r for r in ROLES if r in self.roles), "")


def platform_auth_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True when App Service authentication is in front of the app (it sets this variable)."""
    env = os.environ if environ is None else environ
    return env.get("WEBSITE_AUTH_ENABLED", "").strip().lower() == "true"


def _claims(raw: Any) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        return []
    out: list[tuple[str, str]] = []
    for item in raw[:MAX_CLAIMS]:
        if isinstance(item, dict) and isinstance(item.get("typ"), str) and isinstance(item.get("val"), str):
            out.append((item["typ"], item["val"]))
    return out


def _first(claims: list[tuple[str, str]], names: tuple[str, ...]) -> str:
    for name in names:
        for typ, val in claims:
            if typ == name and val.strip():
                return val.strip()
    return ""


def parse_principal(value: str, headers: Mapping[str, str] | None = None) -> Principal:
    """The person in an ``X-MS-CLIENT-PRINCIPAL`` header (base64 JSON: ``auth_typ``, ``claims``
    of ``{typ, val}``, optional ``name_typ``/``role_typ``). Raises :class:`AuthError` (401) for a
    header that is not one, or lacks a tenant."""
    headers = headers or {}
    if len(value) > MAX_PRINCIPAL_BYTES:
        raise AuthError(401, "Sign-in not understood", "The sign-in header is larger than allowed.")
    try:
        text = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4), validate=True)
        data = json.loads(text)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise AuthError(
            401,
            "Sign-in not understood",
            "The sign-in header from App Service authentication could not be read.",
        ) from exc
    if not isinstance(data, dict):
        raise AuthError(401, "Sign-in not understood", "The sign-in header holds no principal.")
    claims = _claims(data.get("claims"))
    role_typ = data.get("role_typ") if isinstance(data.get("role_typ"), str) else ""
    name_typ = data.get("name_typ") if isinstance(data.get("name_typ"), str) else ""
    tenant = _first(claims, TENANT_CLAIMS).lower()
    if not tenant or not _TENANT.match(tenant):
        raise AuthError(
            401,
            "Sign-in without a tenant",
            "The sign-in names no Entra ID tenant, so no tenant's data can be shown.",
        )
    role_names = (*ROLE_CLAIMS, role_typ) if role_typ else ROLE_CLAIMS
    roles = frozenset(val for typ, val in claims if typ in role_names and val in ROLES)
    upn = _first(claims, UPN_CLAIMS) or headers.get("x-ms-client-principal-name", "").strip()
    name = _first(claims, (name_typ, *NAME_CLAIMS) if name_typ else NAME_CLAIMS) or upn
    oid = _first(claims, OID_CLAIMS) or headers.get("x-ms-client-principal-id", "").strip()
    idp = str(data.get("auth_typ") or headers.get("x-ms-client-principal-idp", "") or "aad")
    if not upn:
        raise AuthError(401, "Sign-in without a name", "The sign-in names no user.")
    return Principal(
        name=name[:200], upn=upn[:256], tenant_id=tenant, roles=roles, object_id=oid[:64], idp=idp[:32]
    )


def parse_dev_identity(value: str) -> Principal:
    """``upn,role,tenant-id`` (TAP365_CONSOLE_DEV_IDENTITY); ValueError says what is wrong."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3 or not all(parts):
        raise ValueError("TAP365_CONSOLE_DEV_IDENTITY is upn,role,tenant-id")
    upn, role, tenant = parts
    if role not in ROLES:
        raise ValueError(f"TAP365_CONSOLE_DEV_IDENTITY: the role is one of {', '.join(ROLES)}")
    if not _TENANT.match(tenant):
        raise ValueError("TAP365_CONSOLE_DEV_IDENTITY: the tenant id is not one")
    return Principal(
        name=upn,
        upn=upn,
        tenant_id=tenant.lower(),
        roles=frozenset({role}),
        idp="development",
        development=True,
    )


def from_loopback(headers: Mapping[str, str]) -> bool:
    """The request came from this machine: the last ``X-Forwarded-For`` hop, which the host
    appends itself (as App Service does), is a loopback address. Earlier hops are the client's
    word and count for nothing."""
    hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
    if not hops:
        return False
    hop = hops[-1]
    if hop.startswith("["):
        host = hop[1:].split("]", 1)[0]
    elif hop.count(":") == 1:
        host = hop.split(":", 1)[0]
    else:
        host = hop
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


SIGN_IN_HELP = (
    "In Azure, turn on App Service authentication with the Entra ID provider (the deployment "
    "templates do) and open the console through the app's address. On a development machine, "
    'set TAP365_CONSOLE_DEV_IDENTITY to "upn,TAP365.Admin,tenant-id" and open the console from '
    "this machine (tap365 serve and the local stack set it)."
)


def authenticate(
    headers: Mapping[str, str], dev_identity: str, environ: Mapping[str, str] | None = None
) -> Principal:
    """The person behind a request (``headers`` lower-cased), or :class:`AuthError`."""
    platform = platform_auth_enabled(environ)
    sent = [name for name in headers if name.startswith(PRINCIPAL_PREFIX)]
    if not platform:
        if sent:
            raise AuthError(
                400,
                "Sign-in headers refused",
                "This request carries App Service sign-in headers, but App Service "
                "authentication is not in front of this app, so they were not set by "
                "the platform and are not believed.",
            )
        if dev_identity.strip() and from_loopback(headers):
            try:
                return parse_dev_identity(dev_identity)
            except ValueError as exc:
                raise AuthError(401, "Development sign-in misconfigured", str(exc)) from exc
        raise AuthError(401, "Sign in to use the console", SIGN_IN_HELP)
    value = headers.get(PRINCIPAL_HEADER, "")
    if not value:
        raise AuthError(401, "Sign in to use the console", SIGN_IN_HELP)
    return parse_principal(value, headers)
