"""Lookalike domains: does a host resemble a protected (the tenant's internal or monitored) domain?

One matcher for a sender's domain (Impersonation Protect's ``domain_similarity``) and a link's
host (the URL rule ``tenant_lookalike``), so they agree; :func:`shared_matcher` keeps one per
tuple of protected domains.

Registered-domain aware: the registrable label (``contoso`` in ``mail.contoso.co.uk``) is what is
compared, never the whole host, and a host inside a protected domain is never flagged.
Covers the dnstwist fuzzer kinds: homoglyphs and confusables after IDNA decoding, edit distance
(addition, insertion, omission, repetition, replacement, transposition, vowel swap, bitsquatting,
plural), TLD swap, hyphenation, added words (dictionary, brand + TLD) and subdomain tricks.

Short labels collide with real names, so the rules get stricter as the brand label gets
shorter (see :class:`LookalikeRules`): a 3-letter label one arbitrary edit away is usually another
organisation (ubs.com for ups.com), one slip of the finger or one flipped bit away usually not.
Per-brand forms are computed once per matcher, per-host forms once per host, so a check costs a
few string compares per protected domain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz.distance import DamerauLevenshtein

from tap_core.data import data_lines
from tap_core.lookalike.brands import brand_owning
from tap_core.parsing.domains import host_matches_domain, label_to_unicode, public_suffix, registered_domain
from tap_core.parsing.orgdomain import organisation_domain, split_org
from tap_core.parsing.text import fold
from tap_core.urls.platforms import free_platform

# Multi-letter ASCII look-alikes that no Unicode table lists (they are plain ASCII):
# "rn" reads as "m", "vv" as "w", "cl" as "d". Applied to both sides before comparing.
_ASCII_LOOKALIKES: tuple[tuple[str, str], ...] = (
    ("rn", "m"),
    ("nn", "m"),
    ("vv", "w"),
    ("cl", "d"),
    ("lc", "k"),
    ("ii", "u"),
)
# Single characters that read alike in common mail fonts, folded to one representative.
_ASCII_CLASSES = str.maketrans({"1": "l", "i": "l", "|": "l", "0": "o", "5": "s", "3": "e", "q": "g"})

# Public suffixes that only public bodies can register under: attackers cannot buy a lookalike
# there (``case.edu`` is no attack on ``chase.com``).
_RESTRICTED_TLDS = frozenset({"gov", "edu", "mil", "int"})
_RESTRICTED_SECOND_LEVEL = frozenset({"gov", "edu", "mil", "ac", "gob", "gouv", "govt", "gv", "go", "nic"})


class LookalikeRules(BaseModel):
    """How close is too close. Lengths are those of the protected domain's registrable label."""

    model_config = ConfigDict(extra="forbid")

    #: One edit (Damerau-Levenshtein) for labels at least this long.
    edit1_min_len: int = Field(default=5, ge=1)
    #: Two edits for labels at least this long.
    edit2_min_len: int = Field(default=10, ge=1)
    #: Shorter labels still match one edit when the candidate keeps the protected domain's
    #: public suffix and the label is at least this long ("zoom.us" -> "zoon.us"). 3-letter
    #: names one edit apart are nearly all other real organisations (ubs.com, nhl.com), so the
    #: default leaves them to the exact and look-alike rules.
    short_edit1_same_suffix_min_len: int = Field(default=4, ge=1)
    #: Labels shorter than ``edit1_min_len`` match one character appended or one doubled in
    #: place ("upss", "ups1").
    short_label_additions: bool = True
    #: Shorter labels at least this long still match one edit under the protected domain's public
    #: suffix when the edit is a slip rather than another name: a key that touches the intended
    #: one on a QWERTY, QWERTZ or AZERTY keyboard ("dhk", "dhjl"), or a character one bit away
    #: (bitsquatting, "ups" -> "wps"). ``ubs``, ``nhl`` or ``usps`` are none of these.
    short_typing_slip_min_len: int = Field(default=3, ge=1)
    #: Label + a word from the shipped list ("dhl-account", "securecontoso") for labels this long.
    added_word_min_len: int = Field(default=3, ge=1)
    #: Label as a whole hyphen-separated token beside any token ("contoso-xyz") for labels this long.
    whole_token_min_len: int = Field(default=4, ge=1)
    #: Label as a whole subdomain label of an unrelated domain ("contoso.evil.net").
    brand_as_subdomain_min_len: int = Field(default=5, ge=1)
    #: Use the ASCII look-alike classes (1/l/i, 0/o, rn/m...) for edit distances too.
    visual_edit_distance: bool = True
    #: Skip candidates under suffixes only public bodies can register (.gov, .edu, ac.jp...).
    skip_restricted_suffixes: bool = True


@dataclass(frozen=True, slots=True)
class LookalikeMatch:
    """One host found to resemble one protected domain."""

    host: str
    protected: str
    #: homoglyph, tld-swap, typo, hyphenation, added-word, subdomain
    kind: str
    detail: str
    #: For ``subdomain``: "split" (con.toso.com), "embedded" (the whole protected domain in
    #: front of another: contoso.com.evil.net) or "label" (contoso.evil.net); else "".
    form: str = ""

    def describe(self) -> str:
        return f"{self.host} resembles {self.protected} ({self.kind}: {self.detail})"


@dataclass(frozen=True, slots=True)
class _Forms:
    """The spellings of one label that the rules compare."""

    text: str  # Unicode (IDNA-decoded)
    folded: str  # confusable skeleton, case and diacritics folded ("m" reads as "rn")
    canonical: str  # folded with "rn" written back as "m", so distances count letters
    bare: str  # canonical without hyphens
    visual: str  # bare with the ASCII look-alike classes applied

    @classmethod
    def of(cls, label: str) -> _Forms:
        text = label_to_unicode(label)
        folded = fold(text)
        canonical = folded.replace("rn", "m")
        bare = canonical.replace("-", "")
        return cls(text, folded, canonical, bare, _visual(bare))


@dataclass(frozen=True, slots=True)
class _Brand:
    domain: str  # registered domain, ASCII
    suffix: str
    label: _Forms
    labels: tuple[str, ...]  # every label of the domain, canonical


@cache
def _domain_words() -> frozenset[str]:
    return frozenset(data_lines("impersonation", "domain_words.txt"))


def _visual(text: str) -> str:
    for seq, repl in _ASCII_LOOKALIKES:
        text = text.replace(seq, repl)
    return text.translate(_ASCII_CLASSES)


def _is_restricted(suffix: str) -> bool:
    labels = suffix.split(".")
    if labels[-1] in _RESTRICTED_TLDS:
        return True
    return len(labels) >= 2 and labels[0] in _RESTRICTED_SECOND_LEVEL


def _is_end_addition(short: str, long: str) -> bool:
    """``long`` is ``short`` with one character appended, or with one character doubled."""
    if len(long) != len(short) + 1:
        return False
    if long.startswith(short):
        return True
    return any(long == short[: i + 1] + short[i:] for i in range(len(short)))


@cache
def _keyboard_neighbours() -> dict[str, frozenset[str]]:
    """The keys that touch each key on any layout of ``keyboards.txt``."""
    near: dict[str, set[str]] = defaultdict(set)
    for line in data_lines("impersonation", "keyboards.txt"):
        rows = line.split()[1:]
        for r, row in enumerate(rows):
            for i, key in enumerate(row):
                # Rows are staggered by half a key: the row above touches at i and i + 1, the
                # row below at i - 1 and i.
                touching = ((r, i - 1), (r, i + 1), (r - 1, i), (r - 1, i + 1), (r + 1, i - 1), (r + 1, i))
                near[key].update(
                    rows[y][x] for y, x in touching if 0 <= y < len(rows) and 0 <= x < len(rows[y])
                )
    return {key: frozenset(keys) for key, keys in near.items()}


def _one_bit_apart(a: str, b: str) -> bool:
    """ASCII characters whose codes differ in one bit: what a memory or line error makes of a
    name in transit (bitsquatting). DNS names are ASCII, so other characters never flip."""
    flip = ord(a) ^ ord(b)
    return a.isascii() and b.isascii() and flip != 0 and flip & (flip - 1) == 0


def _typing_slip(brand: str, cand: str) -> str | None:
    """How ``cand`` is ``brand`` with one slip, or None: one character replaced by a key that
    touches it or by a character one bit away, or one extra key pressed that touches (or
    repeats) a letter beside it."""
    near = _keyboard_neighbours()
    if len(cand) == len(brand):
        diff = [i for i, (x, y) in enumerate(zip(brand, cand, strict=True)) if x != y]
        if len(diff) != 1:
            return None
        a, b = brand[diff[0]], cand[diff[0]]
        if b in near.get(a, ()):
            return f"{b!r} is a key beside {a!r}"
        if _one_bit_apart(a, b):
            return f"{b!r} is {a!r} with one bit flipped"
        return None
    if len(cand) == len(brand) + 1:
        for i, extra in enumerate(cand):
            if cand[:i] + cand[i + 1 :] != brand:
                continue
            for letter in brand[max(i - 1, 0) : i + 1]:
                if extra == letter or extra in near.get(letter, ()):
                    return f"{extra!r} pressed with {letter!r}"
    return None


def _split_org(host: str) -> tuple[str, str, str]:
    """:func:`split_org`, with the Public Suffix List's default rule ("*": the last label is the
    suffix) for hosts under no known suffix (``contoso.test``, ``contoso-payroll.example``)."""
    sub, label, suffix = split_org(host)
    if suffix or "." not in host:
        return sub, label, suffix
    labels = host.split(".")
    return ".".join(labels[:-2]), labels[-2], labels[-1]


def _splits(host: str) -> list[tuple[str, str, str]]:
    """(subdomain, label, suffix) with the private PSL section, and with ICANN's alone when that
    differs: ``intu.it.com`` is registrable under the private ``it.com`` but still spells
    "intuit" to a reader."""
    first = _split_org(host)
    icann = public_suffix(host)
    if not icann or icann == first[2] or not host.endswith("." + icann):
        return [first]
    rest = host[: -len(icann) - 1].split(".")
    return [first, (".".join(rest[:-1]), rest[-1], icann)]


def _own_account(host: str, found: tuple[str, ...]) -> bool:
    """The organisation's own name, exactly, as its account on a known brand's paid platform
    (contoso.sharepoint.com, contoso.zoom.us, contoso.okta.com): its name, not an imitation.
    Not on free platforms, where anyone may take the name (contoso.github.io)."""
    exact = found[0] == "tld-swap" or (found[0] == "subdomain" and found[2] == "label")
    if not exact or free_platform(host):
        return False
    icann = registered_domain(host, private=False)
    return bool(icann) and icann != host and brand_owning(icann) is not None


class LookalikeMatcher:
    """Checks hosts against a fixed set of protected domains (build once, call many times)."""

    def __init__(self, protected_domains: Iterable[str], rules: LookalikeRules | None = None) -> None:
        self.rules = rules or LookalikeRules()
        self._protected: list[str] = []
        brands: dict[str, _Brand] = {}
        for raw in protected_domains:
            domain = raw.strip().lower().rstrip(".")
            if not domain:
                continue
            self._protected.append(domain)
            reg = organisation_domain(domain)
            _, label, suffix = _split_org(reg)
            if label and reg not in brands:
                labels = tuple(_Forms.of(x).canonical for x in reg.split("."))
                brands[reg] = _Brand(reg, suffix, _Forms.of(label), labels)
        self._brands = list(brands.values())
        self._words = _domain_words()

    @property
    def protected(self) -> list[str]:
        return list(self._protected)

    def is_protected(self, host: str) -> bool:
        """``host`` is a protected domain, inside one, or shares its registered domain."""
        host = host.strip().lower().rstrip(".")
        if any(host_matches_domain(host, p) for p in self._protected):
            return True
        reg = organisation_domain(host)
        return any(reg == b.domain for b in self._brands)

    def match(self, host: str) -> LookalikeMatch | None:
        """The first protected domain that ``host`` resembles, or None."""
        host = host.strip().lower().rstrip(".")
        if not host or not self._brands or self.is_protected(host):
            return None
        for sub, label, suffix in _splits(host):
            if not label or not suffix or (self.rules.skip_restricted_suffixes and _is_restricted(suffix)):
                continue
            forms = _Forms.of(label)
            subs = [_Forms.of(s).canonical for s in sub.split(".")] if sub else []
            for brand in self._brands:
                found = self._label(brand, forms, suffix) or self._subdomain(brand, subs, forms)
                if found and _own_account(host, found):
                    continue
                if found:
                    return LookalikeMatch(host, brand.domain, *found)
        return None

    def _label(self, b: _Brand, c: _Forms, suffix: str) -> tuple[str, str] | None:
        rules, brand = self.rules, b.label
        if c.folded == brand.folded:
            if c.text == brand.text:
                return "tld-swap", f".{suffix} instead of .{b.suffix}"
            return "homoglyph", f"{c.text!r} reads as {brand.text!r}"
        if c.bare == brand.bare:
            return "hyphenation", f"{c.text!r} is {brand.text!r} with hyphens"
        if c.visual == brand.visual:
            return "homoglyph", f"{c.text!r} reads as {brand.text!r}"
        n = len(brand.bare)
        limit = 2 if n >= rules.edit2_min_len else 1 if n >= rules.edit1_min_len else 0
        if not limit and suffix == b.suffix and n >= rules.short_edit1_same_suffix_min_len:
            limit = 1
        if limit:
            dist = self._distance(brand, c, limit)
            if dist <= limit:
                return "typo", f"{c.text!r} is {dist} edit(s) from {brand.text!r}"
        elif rules.short_label_additions and _is_end_addition(brand.bare, c.bare):
            return "typo", f"{c.text!r} adds one character to {brand.text!r}"
        elif suffix == b.suffix and n >= rules.short_typing_slip_min_len:
            slip = _typing_slip(brand.bare, c.bare)
            if slip:
                return "typo", f"{c.text!r} is {brand.text!r} with a slip: {slip}"
        if n >= rules.added_word_min_len:
            return self._added_word(b, c)
        return None

    def _distance(self, brand: _Forms, c: _Forms, limit: int) -> int:
        cutoff = limit + 1
        # Both spellings of "m" ("m" and "rn") count: a bit flip "o" -> "n" in "micrnsoft" is one
        # edit only while "rn" stays two letters.
        dist = min(
            DamerauLevenshtein.distance(c.bare, brand.bare, score_cutoff=cutoff),
            DamerauLevenshtein.distance(
                c.folded.replace("-", ""), brand.folded.replace("-", ""), score_cutoff=cutoff
            ),
        )
        if self.rules.visual_edit_distance:
            dist = min(dist, DamerauLevenshtein.distance(c.visual, brand.visual, score_cutoff=cutoff))
        return dist

    def _added_word(self, b: _Brand, c: _Forms) -> tuple[str, str] | None:
        brand = b.label.bare
        tld_word = b.suffix.replace(".", "")
        tokens = c.canonical.split("-")
        if len(tokens) > 1 and brand in tokens:
            others = [t for t in tokens if t != brand]
            if len(brand) >= self.rules.whole_token_min_len or all(
                t in self._words or t == tld_word for t in others
            ):
                return "added-word", f"{c.text!r} joins {b.label.text!r} with {'-'.join(others)!r}"
        for token in tokens:
            if token == brand or len(token) <= len(brand):
                continue
            for rest in (token.removeprefix(brand), token.removesuffix(brand)):
                if len(rest) < len(token) and (rest in self._words or rest == tld_word):
                    return "added-word", f"{c.text!r} is {b.label.text!r} plus {rest!r}"
        return None

    def _subdomain(self, b: _Brand, subs: list[str], c: _Forms) -> tuple[str, str, str] | None:
        if not subs:
            return None
        # "co.inbase.com": the brand split across dots.
        for start in range(len(subs)):
            if "".join(subs[start:]).replace("-", "") + c.bare == b.label.bare:
                spelt = ".".join([*subs[start:], c.canonical])
                return "subdomain", f"{spelt!r} spells {b.label.text!r}", "split"
        # "contoso.com.evil.net": the whole protected domain in front of another domain.
        k = len(b.labels)
        for i in range(len(subs) - k + 1):
            if tuple(subs[i : i + k]) == b.labels:
                return "subdomain", f"{b.domain} placed in front of another domain", "embedded"
        if len(b.label.bare) >= self.rules.brand_as_subdomain_min_len and b.label.canonical in subs:
            return "subdomain", f"{b.label.text!r} used as a subdomain of another domain", "label"
        return None


@cache
def _default_rules_json() -> str:
    return LookalikeRules().model_dump_json()


def shared_matcher(protected_domains: tuple[str, ...], rules_json: str = "") -> LookalikeMatcher:
    """The matcher for one tuple of protected domains (and rules, as JSON; default rules when
    empty), built once and shared by every caller that asks for the same domains and rules:
    "" and the default rules written out are the same rules, so they share one matcher."""
    return _matcher(protected_domains, rules_json or _default_rules_json())


@lru_cache(maxsize=256)
def _matcher(protected_domains: tuple[str, ...], rules_json: str) -> LookalikeMatcher:
    return LookalikeMatcher(protected_domains, LookalikeRules.model_validate_json(rules_json))
