"""The tenant's own block list (``blocked_senders`` of the policy): mail from a listed address or
domain is MALICIOUS by the tenant's word, whatever else it shows (as an intel hit decides)."""

from __future__ import annotations

from collections.abc import Sequence

from tap_core.model.findings import Finding
from tap_core.model.message import Message
from tap_core.reputation.rules import rules


def blocked_entry(address: str, blocked: Sequence[str]) -> str | None:
    """The entry of ``blocked`` that covers ``address``: the address itself, its domain or a
    parent domain of it (entries are lower-case, as the policy keeps them). Linear in the labels."""
    address = address.strip().lower()
    if not address or not blocked:
        return None
    listed = set(blocked)
    if address in listed:
        return address
    domain = address.rpartition("@")[2]
    labels = domain.split(".")
    for i in range(len(labels) - 1):  # the domain and its parents, never a bare top-level label
        candidate = ".".join(labels[i:])
        if candidate in listed:
            return candidate
    return None


def blocked_sender_findings(message: Message, blocked: Sequence[str]) -> list[Finding]:
    """``sender_blocked_by_policy`` when the From address is on the tenant's block list."""
    sender = message.from_address.address if message.from_address else ""
    entry = blocked_entry(sender, blocked)
    if entry is None:
        return []
    return [rules()["sender_blocked_by_policy"].finding(sender, address=sender, entry=entry)]
