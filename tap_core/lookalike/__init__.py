"""Brands and look-alikes: one answer for links and senders.

Which brand owns a host, which brands a piece of text names, and whether a host or a sender's
domain imitates a brand (:mod:`.brands`) or one of the organisation's own domains
(:mod:`.domains`).
"""

from typing import TYPE_CHECKING

from tap_core import lazy_exports

if TYPE_CHECKING:
    from tap_core.lookalike.brands import (
        BrandMatch,
        brand_domains,
        brand_lookalike,
        brand_mentions,
        brand_owning,
        brands_named,
    )
    from tap_core.lookalike.domains import LookalikeMatch, LookalikeMatcher, LookalikeRules, shared_matcher

#: Loaded on first use: importing one submodule must not load all of them (cold start).
__getattr__ = lazy_exports(__name__, {
    "BrandMatch": "tap_core.lookalike.brands",
    "brand_domains": "tap_core.lookalike.brands",
    "brand_lookalike": "tap_core.lookalike.brands",
    "brand_mentions": "tap_core.lookalike.brands",
    "brand_owning": "tap_core.lookalike.brands",
    "brands_named": "tap_core.lookalike.brands",
    "LookalikeMatch": "tap_core.lookalike.domains",
    "LookalikeMatcher": "tap_core.lookalike.domains",
    "LookalikeRules": "tap_core.lookalike.domains",
    "shared_matcher": "tap_core.lookalike.domains",
})

__all__ = [
    "BrandMatch",
    "LookalikeMatch",
    "LookalikeMatcher",
    "LookalikeRules",
    "brand_domains",
    "brand_lookalike",
    "brand_mentions",
    "brand_owning",
    "brands_named",
    "shared_matcher",
]
