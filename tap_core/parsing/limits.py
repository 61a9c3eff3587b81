"""The parse limits a message reached, as findings: each says what was not analysed.

A message that reached one is held with the reason (``tap_core.pipeline``): what lies beyond a
limit was never seen, so it can be neither passed as clean nor condemned.
"""

from __future__ import annotations

from functools import cache

from tap_core.detect.rules import Rule, family_rules
from tap_core.model.findings import Finding
from tap_core.model.message import LimitReached, Message


@cache
def limit_rules() -> dict[str, Rule]:
    return family_rules("message", "limit_rules.toml")


def limits_reached(message: Message) -> list[LimitReached]:
    """The limits ``message`` and the messages attached to it reached, one of each name."""
    found: dict[str, LimitReached] = {}
    stack = [message]
    while stack:
        current = stack.pop()
        for hit in current.limits_reached:
            found.setdefault(hit.name, hit)
        stack.extend(current.attached_messages)
    return list(found.values())


def limit_findings(message: Message) -> list[Finding]:
    """One finding per limit reached (``limit_mime_depth``, ``limit_mime_parts``,
    ``limit_header_lines``, ``limit_header_bytes``, ``limit_encoded_words``, ``mime_unparseable``)."""
    rules = limit_rules()
    return [rules[hit.name].finding(hit.where, limit=hit.limit, where=hit.where or "message")
            for hit in limits_reached(message)]
