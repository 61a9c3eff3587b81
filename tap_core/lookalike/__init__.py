"""Brands and look-alikes: one answer for links and senders.

Which brand owns a host, which brands a piece of text names, and whether a host or a sender's
domain imitates a brand (:mod:`.brands`) or one of the organisation's own domains
(:mod:`.domains`).
"""

from tap_core.lookalike.brands import (
    BrandMatch,
    brand_lookalike,
    brand_mentions,
    brand_owning,
    brands_named,
)
from tap_core.lookalike.domains import LookalikeMatch, LookalikeMatcher, LookalikeRules, shared_matcher

__all__ = [
    "BrandMatch",
    "LookalikeMatch",
    "LookalikeMatcher",
    "LookalikeRules",
    "brand_lookalike",
    "brand_mentions",
    "brand_owning",
    "brands_named",
    "shared_matcher",
]
