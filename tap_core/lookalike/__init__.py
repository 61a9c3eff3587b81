"""Brands and look-alikes: one answer for links and senders.

Which brand owns a host, which brands a piece of text names, and whether a host or a sender's
domain imitates a brand or one of the organisation's own domains.
"""

from tap_core.urls.heuristics import brand_mentions, brand_owning, brands_named

__all__ = ["brand_mentions", "brand_owning", "brands_named"]
