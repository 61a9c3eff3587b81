"""Helpers shared by the archive scanners: password candidates and names of unopened members."""

from __future__ import annotations

from collections.abc import Iterable

from tap_core.attachments.context import ScanContext
from tap_core.attachments.filetype import extension_category, file_rules

#: Tried after the message's candidates: the convention for sharing malware samples, which
#: some campaigns reuse.
FALLBACK_PASSWORDS = ("infected",)


def candidate_passwords(ctx: ScanContext) -> list[str]:
    return list(dict.fromkeys([*ctx.passwords, *FALLBACK_PASSWORDS]))[: max(1, ctx.limits.max_passwords)]


def unopened_member_findings(ctx: ScanContext, names: Iterable[str]) -> None:
    """Judge members that could not be extracted by their names alone."""
    weights = file_rules()["dangerous_extension"].weights
    worst: tuple[float, str] | None = None
    hits: list[str] = []
    for name in names:
        category = extension_category(name)
        if category is not None:
            hits.append(name)
            weight = weights.get(category, 0.0)
            if worst is None or weight > worst[0]:
                worst = (weight, category)
    if worst is not None:
        # Weighted as the worst member's category (the dangerous_extension rule's variants).
        ctx.add(
            "dangerous_member_name", ", ".join(hits[:5]), score=worst[0], category=worst[1], count=len(hits)
        )


def closed_archive(ctx: ScanContext, kind: str, names: list[str]) -> None:
    """An encrypted archive no candidate password opened."""
    ctx.add("encrypted_archive", ", ".join(names[:5]) or kind, kind=kind)
    unopened_member_findings(ctx, names)


def opened_with_password(ctx: ScanContext, kind: str, password: str) -> None:
    source = "a common default" if password in FALLBACK_PASSWORDS else "the message text"
    ctx.add("decrypted_with_password", f"{len(password)} characters", kind=kind, source=source)
