"""Reputation: how known the message's domains are. The popular domains list shipped as data
(:mod:`tap_core.reputation.popularity`) and the reputation rules (:mod:`tap_core.reputation.rules`,
table ``tap_core/data/reputation/reputation_rules.toml``).
"""

from tap_core.reputation.popularity import popularity_rank
from tap_core.reputation.rules import reputation_findings

__all__ = ["popularity_rank", "reputation_findings"]
