"""Identifiers shaped like Exchange's: long base64 strings for items and folders, GUIDs elsewhere.

REST ids change when an item moves; immutable ids (``Prefer: IdType="ImmutableId"``) do not.
The prefixes differ so a human can tell them apart, as with real ids (``AAMkA``.. vs ``AAkALg``..).
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid


def guid() -> str:
    return str(uuid.uuid4())


def _b64(data: bytes) -> str:
    # Exchange ids are URL-safe base64 with padding kept.
    return base64.urlsafe_b64encode(data).decode("ascii")


def _entry(mailbox_id: str, marker: bytes, size: int) -> bytes:
    return marker + mailbox_id.encode("ascii")[:36] + b"\x00\x46\x00\x00\x00\x00\x00" + os.urandom(size)


def message_rest_id(mailbox_id: str) -> str:
    # 4 + 36 + 7 + 66 = 113 bytes -> 152 chars ending in "=" like real message ids.
    return _b64(_entry(mailbox_id, b"\x00\x03\x24\x00", 66))


def message_immutable_id(mailbox_id: str) -> str:
    return _b64(_entry(mailbox_id, b"\x00\x09\x00\x2e", 66))


def folder_id(mailbox_id: str) -> str:
    # 95 bytes ending in two zero bytes -> "...AAA=" as real folder ids end.
    return _b64(_entry(mailbox_id, b"\x01\x03\x24\x00", 46) + b"\x00\x00")


def attachment_id(mailbox_id: str) -> str:
    return _b64(_entry(mailbox_id, b"\x00\x03\x24\x00", 90))


def change_key() -> str:
    return "CQAAABYAAAA" + _b64(os.urandom(24))[:29]


def conversation_id(mailbox_id: str, topic: str) -> str:
    digest = hashlib.sha256(f"{mailbox_id}|{topic}".encode()).digest()
    return _b64(b"\x00\x04\x24\x00" + mailbox_id.encode("ascii")[:36] + b"\x00\x10\x00" + digest[:16])


def conversation_index() -> str:
    return base64.b64encode(b"\x01" + os.urandom(21)).decode("ascii")


def stable_guid(*parts: str) -> str:
    """Deterministic GUID (service principal object ids, trace ids for fixed inputs)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(parts)))
