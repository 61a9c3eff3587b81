"""Sender authentication as the receiving server recorded it: parsing of Authentication-Results
(:mod:`tap_core.auth.results`) and the authentication rules
(:mod:`tap_core.auth.rules`, table ``tap_core/data/auth/auth_rules.toml``).
"""

from tap_core.auth.results import (
    AuthResults,
    Direction,
    MethodResult,
    authentication_problems,
    direction,
    has_failure,
    parse_authentication_results,
    receiver_results,
)
from tap_core.auth.rules import auth_findings

__all__ = [
    "AuthResults",
    "Direction",
    "MethodResult",
    "auth_findings",
    "authentication_problems",
    "direction",
    "has_failure",
    "parse_authentication_results",
    "receiver_results",
]
