"""Admin consent bound to the admin's browser: ``/api/consent/start`` and the callback's checks.

``start`` makes a random nonce, puts it in an HttpOnly cookie scoped to ``/api/consent`` and
sends the admin to Entra's admin-consent page with ``state`` = an HMAC over the nonce and an
expiry (a key derived from the current link-signing key, so rotation works as for links). The
callback only proceeds when the ``state`` it gets back verifies against the nonce in the
browser's cookie and has not expired: a callback URL crafted elsewhere, replayed from another
browser, or without ``state`` is refused. The nonce itself never appears in the URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote, urlencode

from connectors.graph.config import GRAPH_SCOPE
from connectors.keys import keyring_from_settings
from connectors.service.runtime import Runtime
from tap_core.urls.links import LinkKeyring

CONSENT_PATH = "/api/consent"
CALLBACK_PATH = f"{CONSENT_PATH}/callback"
NONCE_COOKIE = "tap365_consent"
#: How long an admin has between /api/consent/start and the callback.
STATE_TTL_SECONDS = 15 * 60
_STATE_VERSION = "c1"
_MAX_STATE_CHARS = 200  # ours are ~70; anything longer is not ours
# A tenant id, a verified domain, or Entra's "organizations" (the admin's own tenant).
_TENANT_HINT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


class StateError(ValueError):
    """The callback's ``state`` is missing, forged, expired or from another browser."""


def _key(keyring: LinkKeyring, kid: str) -> bytes:
    raw = keyring.key(kid)
    if raw is None:
        raise StateError("the state was signed with a key this deployment no longer has")
    # A key of its own, so a consent state can never be read as a link signature or back.
    return hmac.new(raw, b"tap365 consent state v1", hashlib.sha256).digest()


def _mac(keyring: LinkKeyring, kid: str, expires: int, nonce: str) -> str:
    msg = "\0".join((_STATE_VERSION, kid, str(expires), nonce)).encode()
    digest = hmac.new(_key(keyring, kid), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_state(keyring: LinkKeyring, nonce: str, now: float | None = None,
               ttl: int = STATE_TTL_SECONDS) -> str:
    expires = int(now if now is not None else time.time()) + ttl
    kid = keyring.current
    return f"{_STATE_VERSION}.{kid}.{expires}.{_mac(keyring, kid, expires, nonce)}"


def check_state(keyring: LinkKeyring, state: str, nonce: str, now: float | None = None) -> None:
    """Raise StateError unless ``state`` was made by :func:`make_state` for ``nonce`` and is
    still valid. The comparison is constant-time."""
    if not state:
        raise StateError("the consent response carries no state: start again from /api/consent/start")
    if not nonce:
        raise StateError("this browser did not start the consent (no consent cookie): start again "
                         "from /api/consent/start in the same browser")
    parts = state.split(".") if len(state) <= _MAX_STATE_CHARS else []
    if len(parts) != 4 or parts[0] != _STATE_VERSION or not parts[2].isdigit():
        raise StateError("the state is not one this service issued")
    _, kid, expires_text, mac = parts
    expected = _mac(keyring, kid, int(expires_text), nonce)
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise StateError("the state does not match this browser's consent request (forged, or "
                         "started in another browser)")
    if int(expires_text) < int(now if now is not None else time.time()):
        raise StateError("the consent request expired: start again from /api/consent/start")


def nonce_from_cookies(cookie_header: str) -> str:
    if not cookie_header:
        return ""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return ""
    morsel = jar.get(NONCE_COOKIE)
    return morsel.value if morsel is not None else ""


def nonce_cookie(nonce: str, max_age: int = STATE_TTL_SECONDS) -> str:
    return (f"{NONCE_COOKIE}={nonce}; Path={CONSENT_PATH}; Max-Age={max_age}; HttpOnly; Secure; "
            "SameSite=Lax")


def clear_cookie() -> str:
    return nonce_cookie("", max_age=0)


@dataclass
class ConsentStart:
    location: str
    cookie: str


def start(runtime: Runtime, tenant_hint: str = "") -> ConsentStart:
    """Where to send the admin (Entra's admin-consent page) and the cookie to set.
    ``tenant_hint``: a tenant id or verified domain; empty = the admin's own tenant."""
    hint = tenant_hint.strip() or "organizations"
    if not _TENANT_HINT.fullmatch(hint):
        raise ValueError(f"{tenant_hint[:80]!r} is neither a tenant id nor a domain")
    keyring = keyring_from_settings(runtime.settings)
    nonce = secrets.token_urlsafe(32)
    graph = runtime.graph_settings
    query = urlencode({
        "client_id": graph.client_id,
        "scope": GRAPH_SCOPE,
        "redirect_uri": f"{runtime.public_base_url}{CALLBACK_PATH}",
        "state": make_state(keyring, nonce),
    })
    location = f"{graph.authority_host}/{quote(hint, safe='')}/v2.0/adminconsent?{query}"
    return ConsentStart(location, nonce_cookie(nonce))


def verify_callback(runtime: Runtime, state: str, cookie_header: str) -> None:
    check_state(keyring_from_settings(runtime.settings), state, nonce_from_cookies(cookie_header))
