"""The admin-consent state: an HMAC over the browser's nonce and an expiry, checked in constant
time; forged, expired, other-browser and missing states are refused with the reason."""

from __future__ import annotations

import pytest

from connectors.service.consent import (
    NONCE_COOKIE,
    StateError,
    check_state,
    make_state,
    nonce_cookie,
    nonce_from_cookies,
)
from tap_core.urls.links import LinkKeyring

KEYS = LinkKeyring({"k1": b"k" * 32, "k0": b"o" * 32}, "k1")
NOW = 1_800_000_000.0


def test_a_state_verifies_for_its_nonce_until_it_expires() -> None:
    state = make_state(KEYS, "nonce-a", now=NOW, ttl=900)
    check_state(KEYS, state, "nonce-a", now=NOW + 899)
    with pytest.raises(StateError, match="expired"):
        check_state(KEYS, state, "nonce-a", now=NOW + 901)


def test_a_state_from_another_browser_or_forged_is_refused() -> None:
    state = make_state(KEYS, "nonce-a", now=NOW)
    with pytest.raises(StateError, match="another browser"):
        check_state(KEYS, state, "nonce-b", now=NOW)
    version, kid, expires, mac = state.split(".")
    forged = [
        f"{version}.{kid}.{int(expires) + 3600}.{mac}",  # a longer life
        f"{version}.{kid}.{expires}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        f"{version}.k0.{expires}.{mac}",  # another key's name
        f"c0.{kid}.{expires}.{mac}",
        "x" * 5000,
        "....",
    ]
    for bad in forged:
        with pytest.raises(StateError):
            check_state(KEYS, bad, "nonce-a", now=NOW)
    with pytest.raises(StateError, match="no longer has"):
        check_state(KEYS, f"{version}.gone.{expires}.{mac}", "nonce-a", now=NOW)


def test_missing_state_or_cookie_is_refused() -> None:
    with pytest.raises(StateError, match="no state"):
        check_state(KEYS, "", "nonce-a", now=NOW)
    with pytest.raises(StateError, match="consent cookie"):
        check_state(KEYS, make_state(KEYS, "nonce-a", now=NOW), "", now=NOW)


def test_state_signed_by_an_older_key_still_verifies_after_rotation() -> None:
    old = LinkKeyring({"k0": b"o" * 32}, "k0")
    check_state(KEYS, make_state(old, "n", now=NOW), "n", now=NOW)


def test_the_nonce_cookie() -> None:
    cookie = nonce_cookie("abc")
    assert cookie.startswith(f"{NONCE_COOKIE}=abc;")
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/api/consent", "Max-Age=900"):
        assert attribute in cookie
    assert nonce_from_cookies(f"other=1; {NONCE_COOKIE}=abc; x=2") == "abc"
    assert nonce_from_cookies("") == "" and nonce_from_cookies('bad"cookie') == ""
