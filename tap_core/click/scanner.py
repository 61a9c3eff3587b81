"""Tell link scanners from people (Defender, Proofpoint and Mimecast scanners click every link).

Signals, each named: a known scanner user agent, a HEAD request, a click within seconds of the
link being made (delivery), many links of one message clicked within a second, and a request
without Accept-Language (browsers always send it). One strong signal is enough.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache

from tap_core.resources import data_lines

#: A click this soon after the link was made is a delivery-time scanner, not a reader.
DELIVERY_WINDOW_SECONDS = 2.0


@cache
def scanner_agents() -> tuple[str, ...]:
    return data_lines("click", "scanner_agents.txt")


@cache
def _agents_re() -> re.Pattern[str]:
    return re.compile("|".join(re.escape(a) for a in scanner_agents()))


@lru_cache(maxsize=4096)
def known_scanner_agent(agent: str) -> bool:
    """True for a user agent of a known link scanner (cached: a handful of agents make most clicks)."""
    return _agents_re().search(agent) is not None


@dataclass(frozen=True, slots=True)
class ScannerSignal:
    is_scanner: bool
    signals: tuple[str, ...] = ()


def classify(
    method: str, headers: Mapping[str, str], *, issued_at: float, now: float, message_burst: bool = False
) -> ScannerSignal:
    """``headers`` with lower-case names; ``message_burst``: many links of the message this second."""
    signals: list[str] = []
    agent = headers.get("user-agent", "").lower()
    if not agent:
        signals.append("scanner_no_user_agent")
    elif known_scanner_agent(agent):
        signals.append("scanner_user_agent")
    if method.upper() == "HEAD":
        signals.append("scanner_head_request")
    if issued_at and 0 <= now - issued_at < DELIVERY_WINDOW_SECONDS:
        signals.append("scanner_at_delivery")
    if message_burst:
        signals.append("scanner_message_burst")
    if not headers.get("accept-language", "").strip():
        signals.append("scanner_no_accept_language")
    return ScannerSignal(bool(signals), tuple(signals))
