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
