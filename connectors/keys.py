"""Link signing keys: from settings, or generated once and kept in the local state folder."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from pathlib import Path

from connectors.settings import Settings
from tap_core.urls.links import LinkCodec, LinkKeyring

LOCAL_KEY_FILE = "link-signing-key"


class KeyConfigError(ValueError):
    """TAP365_LINK_SIGNING_KEYS cannot be read; the message says what to fix."""


#: A key id as LinkKeyring takes it; checked here first so that an error can name the entry
#: without ever quoting what may be key material (a reversed ``key:kid`` puts the key first).
_KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def parse_keys(value: str) -> LinkKeyring:
    """``kid:base64[,kid:base64...]``: the first key signs new links; all of them verify.

    Errors name the entry by its position and never echo key material."""
    keys: dict[str, bytes] = {}
    current = ""
    entries = [v.strip() for v in value.split(",")]
    for number, item in enumerate((e for e in entries if e), start=1):
        kid, sep, b64 = (part.strip() for part in item.partition(":"))
        if not sep:
            raise KeyConfigError("TAP365_LINK_SIGNING_KEYS entries are kid:base64key, comma-separated")
        if not _KID.match(kid):
            hint = " (reversed? the key id comes first: kid:base64key)" if _KID.match(b64) else ""
            raise KeyConfigError(
                f"TAP365_LINK_SIGNING_KEYS entry {number}: the part before ':' is not a key id "
                f"(1-16 characters of A-Z a-z 0-9 _ -){hint}")
        try:
            key = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyConfigError(f"TAP365_LINK_SIGNING_KEYS: key {kid!r} is not base64") from exc
        keys[kid] = key
        current = current or kid
    if not keys:
        raise KeyConfigError("TAP365_LINK_SIGNING_KEYS holds no key")
    try:
        return LinkKeyring(keys, current)
    except ValueError as exc:  # every kid is checked above: the message names ids, never keys
        raise KeyConfigError(f"TAP365_LINK_SIGNING_KEYS: {exc}") from exc


def local_keyring(state_dir: Path) -> LinkKeyring:
    """The local key, made on first use (0600) so links keep verifying across runs."""
    path = state_dir / LOCAL_KEY_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        kid = "l" + secrets.token_hex(3)
        tmp = state_dir / f".{LOCAL_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}\n")
        try:
            os.link(tmp, path)  # atomic: when two processes race, the first key wins for both
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return parse_keys(path.read_text().strip())


def keyring_from_settings(settings: Settings) -> LinkKeyring:
    if settings.link_signing_keys:
        return parse_keys(settings.link_signing_keys)
    return local_keyring(settings.state_dir)


def link_codec(settings: Settings) -> LinkCodec:
    return LinkCodec(settings.redirect_base_url, keyring_from_settings(settings))
