"""Sender authentication as the receiving server recorded it: parsing of Authentication-Results
and ARC-Seal (:mod:`tap_core.auth.results`) and the authentication rules
(:mod:`tap_core.auth.rules`, table ``tap_core/data/auth/auth_rules.toml``).
"""

from tap_core.auth.results import (
    ArcSeal,
    AuthResults,
    Direction,
    MethodResult,
    authentication_problems,
    direction,
    has_failure,
    newest_arc_seal,
    parse_arc_seal,
    parse_authentication_results,
    receiver_results,
)
from tap_core.auth.rules import auth_findings

__all__ = [
    "ArcSeal",
    "AuthResults",
    "Direction",
    "MethodResult",
    "auth_findings",
    "authentication_problems",
    "direction",
    "has_failure",
    "newest_arc_seal",
    "parse_arc_seal",
    "parse_authentication_results",
    "receiver_results",
]
