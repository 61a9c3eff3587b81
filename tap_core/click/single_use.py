"""Links that look single-use or state-changing: never fetched ahead of the user.

The rules are data (``tap_core/data/click/single_use.toml``). On top of them, a long random token
(``token_like``) in the path or query next to an action word counts as a one-time token.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache
from urllib.parse import parse_qsl, unquote, urlsplit

from tap_core.data import data_text
from tap_core.detect.rules import family_rules
from tap_core.model.findings import Finding


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    reason: str
    path: tuple[re.Pattern[str], ...]
    params: frozenset[str]
    values: tuple[re.Pattern[str], ...]


@cache
def _rules() -> tuple[_Rule, ...]:
    table = tomllib.loads(data_text("click", "single_use.toml"))
    return tuple(
        _Rule(
            name,
            spec["reason"],
            tuple(re.compile(p) for p in spec.get("path", ())),
            frozenset(spec.get("params", ())),
            tuple(re.compile(p) for p in spec.get("values", ())),
        )
        for name, spec in table.items()
    )


_ACTION_WORDS = re.compile(
    r"(?:token|verify|confirm|activate|auth|login|signin|magic|invite|reset|otp|code|key|ticket|nonce)", re.I
)
_SEGMENT = re.compile(r"[A-Za-z0-9_\-]{24,}")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def token_like(value: str) -> bool:
    """A long, random-looking value (mixed letters and digits, high entropy): a secret."""
    if not _SEGMENT.fullmatch(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return has_digit and has_alpha and _entropy(value) >= 3.5


@lru_cache(maxsize=8192)
def single_use(url: str) -> Finding | None:
    """The finding (rule ``single_use``, named ``single_use_<kind>``) naming why ``url`` must not
    be fetched before the user, or None.

    Pure in ``url`` (the rules are packaged data) and asked on every scanner click of a link and
    every redirect hop fetched: memoised (a Finding is frozen, so callers may share it)."""
    found = _match(url)
    if found is None:
        return None
    kind, what, evidence = found
    rule = family_rules("click", "page_rules.toml")["single_use"]
    if kind == "token":
        return rule.finding(evidence, "token", named="single_use_token")
    return rule.finding(evidence, named=f"single_use_{kind}", what=what)


def _match(url: str) -> tuple[str, str, str] | None:
    """(kind, what the link looks like, evidence) of a single-use link, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    path = unquote(parts.path).lower()
    query = parts.query.lower()
    names = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    for rule in _rules():
        evidence = ""
        hit = next((p for p in rule.path if p.search(path)), None)
        if hit is not None:
            evidence = f"path matches {hit.pattern}"
        elif rule.params & names:
            evidence = "query parameter " + ", ".join(sorted(rule.params & names))
        else:
            value_hit = next((p for p in rule.values if p.search(query)), None)
            if value_hit is not None:
                evidence = f"query matches {value_hit.pattern}"
        if evidence:
            return rule.name, rule.reason, evidence
    # A one-time token: a random-looking value named or placed next to an action word.
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if token_like(value) and _ACTION_WORDS.search(key):
            return _token(f"query parameter {key}")
    segments = [s for s in parts.path.split("/") if s]
    for i, segment in enumerate(segments):
        neighbours = " ".join(segments[max(0, i - 2) : i])
        if token_like(segment) and _ACTION_WORDS.search(neighbours):
            return _token(f"path segment after /{neighbours.replace(' ', '/')}/")
    return None


def _token(evidence: str) -> tuple[str, str, str]:
    return "token", "a link with a one-time token", evidence
