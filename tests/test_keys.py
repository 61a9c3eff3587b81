from __future__ import annotations

import base64
import os
import stat

import pytest

from connectors.keys import KeyConfigError, keyring_from_settings, local_keyring, parse_keys
from connectors.settings import Settings


def test_local_key_generated_once_and_private(tmp_path) -> None:
    first = local_keyring(tmp_path)
    second = local_keyring(tmp_path)
    assert first.current == second.current
    assert first.key(first.current) == second.key(second.current)
    mode = stat.S_IMODE(os.stat(tmp_path / "link-signing-key").st_mode)
    assert mode == 0o600


def test_configured_keys_first_signs() -> None:
    a, b = base64.b64encode(os.urandom(32)).decode(), base64.b64encode(os.urandom(32)).decode()
    ring = parse_keys(f"new:{a}, old:{b}")
    assert ring.current == "new" and ring.kids == ["new", "old"]
    ring2 = keyring_from_settings(Settings(link_signing_keys=f"k:{a}"))
    assert ring2.current == "k"


@pytest.mark.parametrize("value", ["nocolon", "k:!!!notbase64", "k:" + base64.b64encode(b"short").decode(), ","])
def test_bad_key_settings_explain(value: str) -> None:
    with pytest.raises(KeyConfigError, match="TAP365_LINK_SIGNING_KEYS"):
        parse_keys(value)


@pytest.mark.parametrize("kid", ["k1", "2026-01"])
def test_reversed_entry_says_so_without_echoing_the_key(kid: str) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(KeyConfigError) as info:
        parse_keys(f"{key}:{kid}")
    message = str(info.value)
    assert "TAP365_LINK_SIGNING_KEYS entry 1" in message and "reversed" in message
    # No piece of the key (nor of its base64 text) is in the message, its cause or its context.
    for text in (message, str(info.value.__cause__ or ""), str(info.value.__context__ or "")):
        assert not any(key[i : i + 8] in text for i in range(len(key) - 8))


def test_bad_entries_never_echo_key_material() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    for value in (f"good:{key}, {key}", f"good:{key},{key}:also/notakid", f"{key}{key}:{key}"):
        with pytest.raises(KeyConfigError) as info:
            parse_keys(value)
        assert not any(key[i : i + 8] in str(info.value) for i in range(len(key) - 8)), value
