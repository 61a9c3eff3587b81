"""Brands: which brand owns a host, which brands a text names, which brand a host imitates.

The brand table is ``tap_core/data/urls/brands.toml`` (each brand's distinctive tokens, weak
tokens that are also ordinary words, and its own domains). One matcher answers for a link's
host and for a sender's domain alike (:func:`brand_lookalike`), so a link rule and a sender
rule never disagree about the same name.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import Literal

from tap_core.data import data_text
from tap_core.parsing.domains import (
    is_ip_literal,
    label_to_unicode,
    public_suffix,
    registered_domain,
    split_host,
)
from tap_core.parsing.text import skeleton as uts39_skeleton
from tap_core.urls.normalize import host_to_ascii
from tap_core.urls.platforms import data_list, data_rows, is_user_site, platform_of, site_of

__all__ = [
    "BrandMatch",
    "BrandVariant",
    "brand_domains",
    "brand_lookalike",
    "brand_mentions",
    "brand_owning",
    "brands_named",
    "chosen_labels",
    "confusables",
    "skeleton",
]

BrandVariant = Literal["embedded_domain", "typo", "token", "subdomain_token", "weak_token_lure", "substring"]


@dataclass(frozen=True, slots=True)
class BrandMatch:
    """A host that imitates a brand: which brand, how (a variant of the URL rule
    ``brand_lookalike``) and a short description ("'paypa1' looks like 'paypal'")."""

    brand: str
    variant: BrandVariant
    how: str


# --- spelling ----------------------------------------------------------------------------------


@cache
def confusables() -> dict[str, str]:
    """Look-alike characters of other scripts and their Latin reading (data/urls/confusables.txt)."""
    return {chr(int(row[0], 16)): "" if row[1] == "-" else row[1] for row in data_rows("confusables.txt")}


@cache
def _lures() -> frozenset[str]:
    return data_list("lure_words.txt")


# Look-alike digits and letter pairs fold to the letter they imitate; i and l fold together
# because each imitates the other (paypaI / paypal, linkedln / linkedin).
_DIGIT_FOLD = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "i": "l", "|": "l"}
)


@cache
def _confusable_table() -> dict[int, str]:
    """:func:`confusables` as a ``str.translate`` table: each character by its reading at once."""
    return {ord(ch): reading for ch, reading in confusables().items()}


def skeleton(text: str) -> str:
    """A comparison form of a hostname token where look-alikes collapse (micros0ft, rnicrosoft,
    Cyrillic 'а' -> microsoft-like forms), in the spirit of Unicode TR39 skeletons."""
    out = text.lower().translate(_confusable_table())
    out = out.replace("rn", "m").replace("vv", "w")
    return out.translate(_DIGIT_FOLD)


_VOWELS = "aeiouy"


def _typos(skel: str) -> set[str]:
    """Typosquatting variants of a brand skeleton (dnstwist-style fuzzers, restricted to the
    ones that stay rare among real words): repetition, interior transposition, interior vowel
    swap, interior omission. Longer names get more fuzzers; the first letter is kept."""
    n = len(skel)
    out: set[str] = set()
    if n >= 5:
        out.update(skel[:i] + skel[i] + skel[i:] for i in range(n))
    if n >= 6:
        for i in range(1, n - 1):
            if skel[i] != skel[i + 1]:
                out.add(skel[:i] + skel[i + 1] + skel[i] + skel[i + 2 :])
        for i in range(1, n):
            if skel[i] in _VOWELS:
                out.update(skel[:i] + v + skel[i + 1 :] for v in _VOWELS if v != skel[i])
    if n >= 7:
        out.update(skel[:i] + skel[i + 1 :] for i in range(1, n))
    out.discard(skel)
    return out


# --- the brand table ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Brand:
    name: str
    tokens: frozenset[str]
    weak_tokens: frozenset[str]
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _BrandTable:
    brands: tuple[_Brand, ...]
    owned: dict[str, str]  # registered domain -> brand name
    owned_any_suffix: dict[str, str]  # "google" (from google.*) -> brand name
    by_token: dict[str, _Brand]  # distinctive token -> brand
    by_weak: dict[str, _Brand]
    by_skeleton: dict[str, tuple[_Brand, str]]  # skeleton of any token -> (brand, token)
    by_typo: dict[str, tuple[_Brand, str]]  # typo variant skeleton -> (brand, token)
    long_skeletons: tuple[tuple[str, _Brand, str], ...]  # for substring search


_MIN_FUZZY = 5  # shortest token fuzzy-matched: "ups" or "dhl" inside words must never fire
_MIN_SUBSTRING = 6


@cache
def _brand_table() -> _BrandTable:
    spec = tomllib.loads(data_text("urls", "brands.toml"))
    brands: list[_Brand] = []
    owned: dict[str, str] = {}
    any_suffix: dict[str, str] = {}
    for entry in spec["brand"]:
        brand = _Brand(entry["name"], frozenset(entry["tokens"]), frozenset(entry.get("weak_tokens", ())),
                       tuple(entry["domains"]))
        brands.append(brand)
        for domain in entry["domains"]:
            if domain.endswith(".*"):
                any_suffix[domain[:-2]] = brand.name
            else:
                owned[domain] = brand.name
    by_token = {t: b for b in brands for t in b.tokens}
    by_weak = {t: b for b in brands for t in b.weak_tokens}
    by_skeleton: dict[str, tuple[_Brand, str]] = {}
    by_typo: dict[str, tuple[_Brand, str]] = {}
    longs: list[tuple[str, _Brand, str]] = []
    for b in brands:
        for t in sorted(b.tokens | b.weak_tokens):
            by_skeleton.setdefault(skeleton(t), (b, t))
        for t in sorted(b.tokens):
            skel = skeleton(t)
            if len(skel) >= _MIN_FUZZY:
                for variant in _typos(skel):
                    by_typo.setdefault(variant, (b, t))
            if len(skel) >= _MIN_SUBSTRING:
                longs.append((skel, b, t))
    # A variant that is itself some brand's real name or domain label is not a typo.
    for real in [*by_skeleton, *(skeleton(d.split(".")[0]) for d in owned), *map(skeleton, any_suffix)]:
        by_typo.pop(real, None)
    return _BrandTable(
        tuple(brands), owned, any_suffix, by_token, by_weak, by_skeleton, by_typo, tuple(longs)
    )


# --- hosts -------------------------------------------------------------------------------------


def chosen_labels(host: str) -> list[str]:
    """The labels of ``host`` (a domain name, not an IP address) its owner chose: the host
    without its public suffix, or without the platform's root for a user site on a shared
    platform (``paypal`` in paypal.vercel.app)."""
    if not host:
        return []
    plat = platform_of(host) if is_user_site(host) else None
    cut = plat or public_suffix(host)
    labels = host[: -len(cut) - 1].split(".") if cut and host.endswith("." + cut) else host.split(".")
    return [lb for lb in labels if lb]


def _owner(host: str) -> str | None:
    table = _brand_table()
    site = site_of(host)
    candidates = [site]
    if not is_user_site(host):
        # Platform hosts (storage.googleapis.com) belong to the platform's owner.
        icann = registered_domain(host, private=False)
        if icann and icann != site:
            candidates.append(icann)
    for cand in candidates:
        brand = table.owned.get(cand)
        if brand:
            return brand
        _sub, dom, suffix = split_host(cand)
        if dom in table.owned_any_suffix and suffix == public_suffix(cand):
            return table.owned_any_suffix[dom]
    return None


def brand_domains() -> dict[str, tuple[str, ...]]:
    """Each brand's own domains as brands.toml lists them ("name.*" for any public suffix)."""
    return {b.name: b.domains for b in _brand_table().brands}


def brand_owning(host: str) -> str | None:
    """The brand that owns ``host`` (a host or registered domain) per brands.toml, if any."""
    return _owner(host.lower().rstrip(".")) if host else None


_TOKEN_SPLIT = re.compile(r"[.\-_]+")
#: Tokens that read as a domain ending when they follow a brand name (paypal.com.evil.xyz).
_TLD_TOKENS = frozenset(
    "com net org co us uk de fr it es nl be ch at ca au jp in br mx info biz io gov edu online".split()
)
_GTLD_TOKENS = frozenset({"com", "net", "org"})


def _tokens(labels: Sequence[str]) -> list[str]:
    """The words of host labels, split at dots, hyphens and underscores."""
    out: list[str] = []
    for label in labels:
        out.extend(t for t in _TOKEN_SPLIT.split(label) if t)
    return out


def _fuzzy_candidates(labels: Sequence[str], tokens: Sequence[str]) -> list[str]:
    """Strings compared against typos: tokens, labels without separators, and adjacent token
    pairs joined (pay-pal)."""
    cands = list(tokens)
    cands.extend(lb.replace("-", "") for lb in labels if "-" in lb)
    cands.extend(a + b for a, b in pairwise(tokens))
    return cands


def brand_lookalike(
    host: str, *, extra_labels: Sequence[str] = (), display_labels: Sequence[str] | None = None
) -> BrandMatch | None:
    """The brand ``host`` (a link's host or a sender's domain; punycode or Unicode) imitates
    without being one of its domains, or None. ``extra_labels`` are more labels read as part of
    the name (a link's user information before the ``@``); ``display_labels``, when the caller
    has them already, are ``host``'s :func:`chosen_labels` Unicode-decoded."""
    host = host.strip().lower().rstrip(".")
    if host and not host.isascii():
        host = host_to_ascii(host) or ""
    if not host or is_ip_literal(host) or _owner(host) is not None:
        return None
    table = _brand_table()
    if display_labels is None:
        display_labels = [label_to_unicode(lb) for lb in chosen_labels(host)]
    display = list(display_labels)
    labels = [*display, *extra_labels]
    tokens = _tokens(labels)
    if not tokens:
        return None
    has_lure = any(t in _lures() for t in tokens)

    # 1. A brand name followed by a domain ending, not at the end: paypal.com.evil.xyz.
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        brand = table.by_token.get(tok) if nxt in _TLD_TOKENS else None
        if brand is None and nxt in _GTLD_TOKENS:
            brand = table.by_weak.get(tok)  # "apple.com-..." but not "mac-in-..."
        if brand is not None:
            return BrandMatch(brand.name, "embedded_domain", f"'{tok}.{nxt}' inside the host")
    # 2. A distinctive brand name as a whole token; weak names only next to a lure word.
    site_words = _tokens(display[-1:])  # in order: adjacent pairs are joined below
    site_tokens = set(site_words)
    for tok in tokens:
        brand = table.by_token.get(tok)
        if brand is not None:
            variant: BrandVariant = "token" if tok in site_tokens else "subdomain_token"
            return BrandMatch(brand.name, variant, f"'{tok}' in the host name")
        brand = table.by_weak.get(tok)
        if brand is not None and has_lure:
            return BrandMatch(brand.name, "weak_token_lure", f"'{tok}' next to a lure word")
    # 3. Typos and homoglyphs of a brand name (micros0ft, rnicrosoft, paypall, аpple). Homoglyphs
    # count in any label; plain typos only in the site's own label, because a subdomain word one
    # letter from a brand ("applecore.example.com") is usually just a word.
    site_cands = set(_fuzzy_candidates(display[-1:], site_words))
    for cand in _fuzzy_candidates(labels, tokens):
        skel = skeleton(cand)
        hit = table.by_skeleton.get(skel)
        if hit is not None and cand != hit[1] and (
            (len(skel) >= 4 and cand in site_cands) or not cand.isascii()
        ):
            return BrandMatch(hit[0].name, "typo", f"'{cand}' looks like '{hit[1]}'")
        if len(skel) >= _MIN_FUZZY and cand in site_cands:
            hit = table.by_typo.get(skel)
            if hit is not None:
                return BrandMatch(hit[0].name, "typo", f"'{cand}' is a typo of '{hit[1]}'")
    # 4. A long distinctive brand name buried in a longer word of the site's own label.
    for tok in site_words:
        skel = skeleton(tok)
        for brand_skel, brand, name in table.long_skeletons:
            if brand_skel in skel and brand_skel != skel:
                return BrandMatch(brand.name, "substring", f"'{name}' inside '{tok}'")
    return None


# --- text --------------------------------------------------------------------------------------

_TEXT_CHUNK_RE = re.compile(r"[^\s\"'()\[\]<>:;,!?|/]+")


def _visible(text: str) -> str:
    """``text`` without invisible characters (zero-width, variation selectors, tag characters,
    combining marks other than Latin accents) that lures insert to break up words."""
    return "".join(
        ch for ch in text
        if not (unicodedata.category(ch) == "Cf"
                or (unicodedata.category(ch) == "Mn" and not "\u0300" <= ch <= "\u036f"))
    )


def brands_named(text: str) -> list[str]:
    """Brands a piece of text (a display name, a subject) names, confusables undone.

    Distinctive names count anywhere ("PayPaI Service", "Binаnсе"); names that are also
    ordinary words (apple, chase, dhl) count only when they are the whole text ("DHL").
    """
    return [brand for brand, _literal in brand_mentions(text)]


def brand_mentions(text: str) -> list[tuple[str, bool]]:
    """Like :func:`brands_named`, with whether the brand is spelled plainly (False for
    "PayPaI", "Binаnсе", "Micr0soft": a name written with look-alike characters)."""
    table = _brand_table()
    found: dict[str, bool] = {}
    chunks = _TEXT_CHUNK_RE.findall(_visible(text[:500]))
    whole = len(chunks) == 1
    candidates_per_chunk: list[set[str]] = []
    for chunk in chunks:
        parts = [p for p in re.split(r"[-._]+", chunk) if p]
        candidates_per_chunk.append({re.sub(r"[-._]+", "", chunk), *parts})
    # Two-word names ("Mercado Pago") and spaced-out letters ("A D A C") joined up.
    joined = {a + b for a, b in pairwise(chunks)}
    letters = "".join(c for c in chunks if len(c) == 1)
    if len(letters) >= 3:
        joined.add(letters)
    candidates_per_chunk.append(joined)
    for candidates in candidates_per_chunk:
        for candidate in candidates:
            # Display text may use any script (Cherokee "Ꮇicrosoft"): fold it with the full
            # UTS #39 table first; hostnames only ever need the small table behind skeleton().
            folded = candidate if candidate.isascii() else uts39_skeleton(candidate)
            hit = table.by_skeleton.get(skeleton(folded))
            if hit is None:
                continue
            brand, token = hit
            if token in brand.tokens or (whole and token in brand.weak_tokens):
                plain = candidate.lower() in brand.tokens or candidate.lower() in brand.weak_tokens
                found[brand.name] = found.get(brand.name, False) or plain
    return list(found.items())
