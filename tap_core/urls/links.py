"""Signed click-time links: ``{base}/1.{kid}.{context}.{signature}?{original URL}``.

Design choices (see README "Rewritten links"):

* The original destination is the whole query string, verbatim: anyone can read it and
  :func:`decode_link` recovers it without a key. Its fragment stays the link's own fragment, so
  browsers carry it over the 302 to the destination (RFC 9110 §10.2.2) and the server never
  needs it.
* The tenant, recipient and message travel only inside ``context``, encrypted and authenticated
  (AES-256-GCM, key derived from the signing key with HKDF). Nothing personal is readable.
* ``signature`` is HMAC-SHA256 over version, key id, context and destination, truncated to
  128 bits, compared in constant time. ``kid`` selects the key so keys can rotate: new links use
  the current key, old links verify while their key is still in the keyring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LINK_VERSION = "1"
_SIG_BYTES = 16
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
#: The token in a link's last path segment: version, key id, context, signature.
_TOKEN_RE = re.compile(
    r"(?:^|/)(?P<token>1\.(?P<kid>[A-Za-z0-9_-]{1,16})\.(?P<ctx>[A-Za-z0-9_-]{8,2048})"
    r"\.(?P<sig>[A-Za-z0-9_-]{22}))$"
)


class LinkError(ValueError):
    """A link that must not be followed: malformed, forged, tampered, unknown key or expired."""


def b64url_encode(data: bytes) -> str:
    """Unpadded URL-safe base64 (RFC 4648 section 5), as links, tokens and headers carry it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded URL-safe base64 (binascii.Error, a ValueError, when it is not)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def message_ref(message_id: str) -> bytes:
    """A 12-byte reference to a message id: enough to find the message in the audit."""
    return hashlib.sha256(message_id.encode("utf-8")).digest()[:12]


@dataclass(frozen=True, slots=True)
class LinkContext:
    """Who a link was made for. Travels only encrypted inside the link."""

    tenant_id: str
    recipient: str
    message_ref: bytes = b""
    #: Unix time (seconds) the link was made; used by the optional expiry.
    issued_at: int = 0


@dataclass(frozen=True, slots=True)
class VerifiedLink:
    url: str
    context: LinkContext
    kid: str


class LinkKeyring:
    """Signing keys by key id; ``current`` signs new links, all verify."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"current key id {current!r} is not in the keyring")
        for kid, key in keys.items():
            if not _KID_RE.match(kid):
                raise ValueError(f"key id {kid!r}: use 1-16 characters of A-Z a-z 0-9 _ -")
            if len(key) < 32:
                raise ValueError(f"key {kid!r} is {len(key)} bytes; link keys need at least 32")
        self._keys = dict(keys)
        self.current = current
        self._aead = {kid: AESGCM(self._derive(key)) for kid, key in self._keys.items()}
        # HMAC key setup (hashing the padded key twice) once per key; each use copies it.
        self._hmac = {kid: hmac.new(key, digestmod=hashlib.sha256) for kid, key in self._keys.items()}

    @staticmethod
    def _derive(key: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"tap365 link context v1").derive(key)

    def key(self, kid: str) -> bytes | None:
        return self._keys.get(kid)

    def aead(self, kid: str) -> AESGCM:
        return self._aead[kid]

    def mac(self, kid: str, msg: bytes) -> bytes:
        """HMAC-SHA256 of ``msg`` under key ``kid`` (KeyError for an unknown kid)."""
        mac = self._hmac[kid].copy()
        mac.update(msg)
        return mac.digest()

    @property
    def kids(self) -> list[str]:
        return list(self._keys)


_UUID_TENANT = 0xFF  # tenant length byte meaning "16 raw bytes of a GUID follow"


def _pack_tenant(tenant_id: str) -> bytes:
    try:
        as_uuid = uuid.UUID(tenant_id)
    except ValueError:
        as_uuid = None
    if as_uuid is not None and str(as_uuid) == tenant_id.lower():
        return bytes([_UUID_TENANT]) + as_uuid.bytes  # Entra tenant ids are GUIDs: 16 bytes
    raw = tenant_id.encode("utf-8")[:254]
    return bytes([len(raw)]) + raw


def _pack_context(ctx: LinkContext) -> bytes:
    recipient = ctx.recipient.encode("utf-8")[:255]
    ref = ctx.message_ref[:12].ljust(12, b"\0")
    return (struct.pack(">BI", 1, ctx.issued_at & 0xFFFFFFFF) + _pack_tenant(ctx.tenant_id) + ref
            + struct.pack(">B", len(recipient)) + recipient)


def _unpack_context(data: bytes) -> LinkContext:
    version, issued, tlen = struct.unpack_from(">BIB", data, 0)
    if version != 1:
        raise LinkError("unknown link context version")
    pos = 6
    if tlen == _UUID_TENANT:
        tenant = str(uuid.UUID(bytes=data[pos:pos + 16]))
        pos += 16
    else:
        tenant = data[pos:pos + tlen].decode("utf-8")
        pos += tlen
    ref = data[pos:pos + 12]
    pos += 12
    (rlen,) = struct.unpack_from(">B", data, pos)
    recipient = data[pos + 1:pos + 1 + rlen].decode("utf-8")
    return LinkContext(tenant_id=tenant, recipient=recipient, message_ref=ref, issued_at=issued)


def _split(link: str) -> tuple[str, str, str, str]:
    """(base-and-token, token, destination without fragment, fragment)."""
    head, sep, dest = link.partition("?")
    if not sep:
        raise LinkError("not a rewritten link: no destination")
    dest, _, fragment = dest.partition("#")
    return head, head.rsplit("/", 1)[-1], dest, fragment


def decode_link(link: str) -> str | None:
    """The original destination of one of our links, without any key; None if not one.

    Anyone can do this: the destination is the query string as written. The fragment, when the
    link has one, is the destination's fragment.
    """
    head, sep, dest = link.strip().partition("?")
    if not sep or not dest or not _TOKEN_RE.search(head):
        return None
    return dest


class LinkCodec:
    """Makes and verifies links for one redirector base URL and keyring."""

    def __init__(self, base_url: str, keyring: LinkKeyring) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"redirect base URL {base_url!r} must be an absolute http(s) URL")
        self._prefix = self.base_url + "/"
        self.keyring = keyring

    def _sign(self, kid: str, ctx: str, dest: str) -> str:
        msg = "\0".join((LINK_VERSION, kid, ctx, dest)).encode("utf-8")
        return b64url_encode(self.keyring.mac(kid, msg)[:_SIG_BYTES])

    def wrap(self, url: str, context: LinkContext) -> str:
        """The signed link for ``url`` (an absolute, normalised URL) made for ``context``."""
        if self.is_own(url):
            return url  # never wrap our own links twice
        kid = self.keyring.current
        key = self.keyring.key(kid)
        assert key is not None
        if not context.issued_at:
            context = LinkContext(context.tenant_id, context.recipient, context.message_ref,
                                  int(time.time()))
        plain = _pack_context(context)
        # Deterministic nonce (SIV-style): the same context always encrypts the same way, which
        # keeps rewriting idempotent and reveals only that two links share a context.
        nonce = self.keyring.mac(kid, b"nonce\0" + plain)[:12]
        ctx = b64url_encode(nonce + self.keyring.aead(kid).encrypt(nonce, plain, kid.encode()))
        dest, hash_, fragment = url.partition("#")
        sig = self._sign(kid, ctx, dest)
        link = f"{self._prefix}{LINK_VERSION}.{kid}.{ctx}.{sig}?{dest}"
        return f"{link}#{fragment}" if hash_ else link

    def is_own(self, url: str) -> bool:
        """True for a link made by this deployment (same base URL and token shape)."""
        if not url.startswith(self._prefix):
            return False
        head, sep, _ = url.partition("?")
        return bool(sep) and bool(_TOKEN_RE.search(head))

    def verify(self, link: str, *, max_age_seconds: int | None = None,
               now: float | None = None) -> VerifiedLink:
        """Check a link's signature (constant time) and open its context.

        ``link`` may be the whole URL or just ``token?destination`` as a router hands it over.
        Raises :class:`LinkError` for anything that must not be followed.
        """
        try:
            head, _, dest, _fragment = _split(link.strip())
        except LinkError:
            raise
        m = _TOKEN_RE.search(head)
        if not m:
            raise LinkError("malformed link token")
        kid, ctx, sig = m.group("kid"), m.group("ctx"), m.group("sig")
        key = self.keyring.key(kid)
        if key is None:
            raise LinkError("link signed with an unknown key")
        expected = self._sign(kid, ctx, dest)
        if not hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii")):
            raise LinkError("link signature does not match")
        try:
            raw = b64url_decode(ctx)
            plain = self.keyring.aead(kid).decrypt(raw[:12], raw[12:], kid.encode())
            context = _unpack_context(plain)
        except LinkError:
            raise
        except Exception as exc:
            raise LinkError("link context unreadable") from exc
        if max_age_seconds is not None:
            current = time.time() if now is None else now
            if current - context.issued_at > max_age_seconds:
                raise LinkError("link expired")
        return VerifiedLink(url=dest, context=context, kid=kid)
