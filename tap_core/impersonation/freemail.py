"""Free mailbox providers (``data/impersonation/freemail.txt``, written for this project)."""

from __future__ import annotations

from functools import cache

from tap_core.data import data_lines
from tap_core.parsing.domains import registered_domain, split_host


@cache
def _providers() -> tuple[frozenset[str], frozenset[str]]:
    exact: set[str] = set()
    any_suffix: set[str] = set()
    for line in data_lines("impersonation", "freemail.txt"):
        entry = line.lower()
        if entry.endswith(".*"):
            any_suffix.add(entry[:-2])
        else:
            exact.add(entry)
    return frozenset(exact), frozenset(any_suffix)


def is_freemail(domain: str) -> bool:
    """True for an address domain at a free mailbox provider (``hotmail.co.uk``, ``gmail.com``)."""
    domain = domain.strip().lower().rstrip(".")
    if not domain:
        return False
    exact, any_suffix = _providers()
    reg = registered_domain(domain) or domain
    if domain in exact or reg in exact:
        return True
    _, label, _ = split_host(reg)
    return label in any_suffix
