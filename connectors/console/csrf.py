"""CSRF protection for the console's forms.

A token is ``kid.issued.mac``: an HMAC under the service's key ring (the link keys,
``connectors/keys.py``) over the person's UPN, their tenant and when it was issued, so a token is
good only for the person and tenant it was made for, and only for TAP365_CONSOLE_TOKEN_MINUTES.
No server-side state: any instance checks any token. Every POST also has to come from the
console's own origin (``Origin`` / ``Sec-Fetch-Site``), which browsers send and pages cannot forge.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from tap_core.urls.links import LinkKeyring, b64url_encode

FIELD = "csrf_token"
_CONTEXT = b"tap365 console csrf v1"
#: Longest token read (kid 16 + time 12 + MAC 43, with room).
_MAX_TOKEN = 128


class CsrfError(Exception):
    """The POST is refused; the message says why (shown to the person)."""


def _mac(keyring: LinkKeyring, kid: str, tenant_id: str, upn: str, issued: int) -> str:
    msg = b"|".join((_CONTEXT, tenant_id.encode(), upn.lower().encode(), str(issued).encode()))
    return b64url_encode(keyring.mac(kid, msg))


def issue(keyring: LinkKeyring, tenant_id: str, upn: str, *, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return f"{keyring.current}.{issued}.{_mac(keyring, keyring.current, tenant_id, upn, issued)}"


def check(
    keyring: LinkKeyring,
    token: str,
    tenant_id: str,
    upn: str,
    max_age_seconds: int,
    *,
    now: float | None = None,
) -> None:
    """Raise :class:`CsrfError` unless ``token`` was issued to this person in this tenant within
    ``max_age_seconds``."""
    if not token:
        raise CsrfError("The form carried no security token. Reload the page and try again.")
    parts = token.split(".") if len(token) <= _MAX_TOKEN else []
    if len(parts) != 3 or not parts[1].isdigit():
        raise CsrfError("The form's security token is not valid. Reload the page and try again.")
    kid, issued_text, mac = parts
    if keyring.key(kid) is None:
        raise CsrfError("The form's security token is not valid. Reload the page and try again.")
    issued = int(issued_text)
    if not hmac.compare_digest(mac, _mac(keyring, kid, tenant_id, upn, issued)):
        raise CsrfError("The form's security token is not valid. Reload the page and try again.")
    age = (time.time() if now is None else now) - issued
    if age > max_age_seconds or age < -300:  # five minutes of clock skew between instances
        raise CsrfError("The form's security token has expired. Reload the page and try again.")


def check_origin(headers: Mapping[str, str], request_url: str) -> None:
    """Refuse a POST a browser says came from another site (headers lower-cased). A client that
    sends neither header (not a browser) is left to the token."""
    site = headers.get("sec-fetch-site", "").strip().lower()
    if site and site != "same-origin":
        raise CsrfError("The form was sent from another site; it was not accepted.")
    origin = headers.get("origin", "").strip()
    if not origin:
        return
    own = urlsplit(request_url)
    sent = urlsplit(origin)
    host = headers.get("host", "").strip().lower() or own.netloc.lower()
    # The host only: behind App Service's TLS front end the function may see another scheme.
    if sent.netloc.lower() != host:
        raise CsrfError("The form was sent from another origin; it was not accepted.")
