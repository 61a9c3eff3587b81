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

from tap_core.data import data_lines

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
    head, tail = _request_signals(
        method, headers.get("user-agent", ""), not headers.get("accept-language", "").strip()
    )
    delivery = bool(issued_at) and 0 <= now - issued_at < DELIVERY_WINDOW_SECONDS
    if not delivery and not message_burst:
        return head if tail is None else tail  # the usual case: nothing depends on the time
    signals = [*head.signals]
    if delivery:
        signals.append("scanner_at_delivery")
    if message_burst:
        signals.append("scanner_message_burst")
    if tail is not None:
        signals.append("scanner_no_accept_language")
    return ScannerSignal(True, tuple(signals))


@lru_cache(maxsize=4096)
def _request_signals(
    method: str, agent: str, no_accept_language: bool
) -> tuple[ScannerSignal, ScannerSignal | None]:
    """The signals that depend on the request alone, memoised (a handful of user agents and
    methods make most clicks): (signals before the time-based ones, the same plus the missing
    Accept-Language one when it applies, else None). Signal order is as :func:`classify` lists."""
    signals: list[str] = []
    agent = agent.lower()
    if not agent:
        signals.append("scanner_no_user_agent")
    elif known_scanner_agent(agent):
        signals.append("scanner_user_agent")
    if method.upper() == "HEAD":
        signals.append("scanner_head_request")
    head = ScannerSignal(bool(signals), tuple(signals))
    if not no_accept_language:
        return head, None
    return head, ScannerSignal(True, (*signals, "scanner_no_accept_language"))
