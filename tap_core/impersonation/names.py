"""Display names: does a From display name resemble a protected person's name?

Both sides are normalised the same way: Unicode confusables, diacritics, case, punctuation and
spacing folded (:func:`~tap_core.parsing.text.fold`); titles and role words dropped
("CEO", "Dr.", "PhD"); an address used as the display name read as a name ("jane.doe@..."). Then
the parts are compared in any order ("Doe, Jane"), with initials ("J. Doe"), nicknames from the
shipped table ("Bob" for Robert) and rapidfuzz ratios for misspellings, per :class:`NameMatching`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from rapidfuzz import fuzz, process

from tap_core.data import data_lines
from tap_core.impersonation.policy import NameMatching
from tap_core.parsing.text import fold, remove_invisible

# Starts only where a run of address characters starts, and the domain holds no "@" (the local
# part takes the other "@"s, as before): each start rescanned the run to its end (quadratic).
_EMAIL = re.compile(
    r"(?<![^\s<>()\[\]\"',;])[^\s<>()\[\]\"',;]+@[^\s<>()\[\]\"',;@]+\.[a-z0-9-]{2,}", re.IGNORECASE
)
_SPLIT = re.compile(r"[^\w]+|_")
# Apostrophes inside names join their parts: "O'Brien" is one name, not "O" and "Brien".
_APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc\u2018`")
_DIGITS = re.compile(r"\d+")


def canonical(text: str) -> str:
    """Folded text with the skeleton's "rn" for "m" written back, so lengths and ratios count
    letters as a reader sees them."""
    return fold(text).replace("rn", "m")


@cache
def _noise_words() -> frozenset[str]:
    return frozenset(canonical(w) for w in data_lines("impersonation", "name_words.txt"))


@cache
def _nickname_groups() -> dict[str, frozenset[int]]:
    groups: dict[str, set[int]] = defaultdict(set)
    for gid, line in enumerate(data_lines("impersonation", "nicknames.txt")):
        formal, _, shorts = line.partition(":")
        for name in (formal, *shorts.split(",")):
            if name.strip():
                groups[canonical(name.strip())].add(gid)
    return {name: frozenset(ids) for name, ids in groups.items()}


def same_given_name(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` (canonical) are the same given name or nicknames of one name."""
    if a == b:
        return True
    groups = _nickname_groups()
    return bool(groups.get(a, frozenset()) & groups.get(b, frozenset()))


def _initials_of(given: str) -> set[str]:
    """First letters that may stand for ``given``: its own and those of its nicknames."""
    letters = {given[:1]}
    groups = _nickname_groups()
    mine = groups.get(given, frozenset())
    if mine:
        letters |= {name[:1] for name, ids in groups.items() if ids & mine}
    return letters


def _extends(tokens: Sequence[str], others: Sequence[str]) -> bool:
    """Some token is another with letters added at the end ("roberta" for "robert")."""
    return any(
        a != b and (a.startswith(b) or b.startswith(a))
        for a in tokens
        for b in others
        if min(len(a), len(b)) > 2
    )


@dataclass(frozen=True, slots=True)
class ParsedName:
    """A display name as the matcher sees it."""

    raw: str
    tokens: tuple[str, ...]
    #: An address written inside the display name ("jane.doe@contoso.com"), lowercase.
    embedded_address: str = ""


def parse_display_name(raw: str) -> ParsedName:
    """Tokens of a display name: folded, without titles and decorations, in written order."""
    text = raw.strip().strip("\"'")
    embedded = ""
    m = _EMAIL.search(text)
    if m:
        embedded = m.group(0).lower().strip(".")
        text = (text[: m.start()] + " " + text[m.end() :]).strip()
        if not _tokens(text):
            # Only an address: read its local part as the name ("jane.doe", "j_doe").
            text = _DIGITS.sub(" ", embedded.partition("@")[0])
    return ParsedName(raw, tuple(_tokens(text)), embedded)


def _tokens(text: str) -> list[str]:
    noise = _noise_words()
    # "Doe, Jane" and "Jane Doe" give the same tokens in any order; order is not used later.
    parts = _SPLIT.split(remove_invisible(text).translate(_APOSTROPHES))
    return [t for t in (canonical(p) for p in parts) if t and t not in noise]


@dataclass(frozen=True, slots=True)
class Person:
    """A protected name: given name first, surname last (any middle names between)."""

    display: str
    tokens: tuple[str, ...]
    addresses: frozenset[str]
    key: str  # who this is: a VIP's name or an internal user's address

    @property
    def given(self) -> str:
        return self.tokens[0]

    @property
    def surname(self) -> str:
        return self.tokens[-1]


def person_from_name(name: str, addresses: Iterable[str], key: str = "") -> Person | None:
    """A :class:`Person` for ``name`` ("Jane Doe", "Doe, Jane", "Dr. Jane Q. Doe")."""
    text = name.strip()
    if text.count(",") == 1:
        last, first = (part.strip() for part in text.split(","))
        # "Doe, Jane" lists the surname first; "Jane Doe, PhD" only has a suffix after the comma.
        if _tokens(first) and _tokens(last):
            text = f"{first} {last}"
    tokens = tuple(_tokens(text))
    if not tokens:
        return None
    addrs = frozenset(a.strip().lower() for a in addresses if "@" in a)
    return Person(name, tokens, addrs, key or name)


@dataclass(frozen=True, slots=True)
class NameMatch:
    person: Person
    #: exact, reordered, initial, nickname, fuzzy, address
    how: str


class NameMatcher:
    """Matches display names against a fixed set of people (VIPs, or a directory)."""

    def __init__(self, people: Iterable[Person], thresholds: NameMatching | None = None) -> None:
        self.t = thresholds or NameMatching()
        self.people: list[Person] = list(people)
        self._by_surname: dict[str, list[Person]] = defaultdict(list)
        self._by_address: dict[str, list[Person]] = defaultdict(list)
        for p in self.people:
            self._by_surname[p.surname].append(p)
            for a in p.addresses:
                self._by_address[a].append(p)
        self._surnames: list[str] = list(self._by_surname)
        self._full_names: list[str] = [" ".join(p.tokens) for p in self.people]

    def match(self, raw_display_name: str) -> list[NameMatch]:
        """Every person the display name resembles (best reason first per person)."""
        parsed = parse_display_name(raw_display_name)
        found: dict[str, NameMatch] = {}
        if parsed.embedded_address:
            for p in self._by_address.get(parsed.embedded_address, []):
                found[p.key] = NameMatch(p, "address")
        if parsed.tokens:
            for p in self._candidates(parsed.tokens):
                if p.key in found:
                    continue
                how = self._compare(parsed.tokens, p)
                if how:
                    found[p.key] = NameMatch(p, how)
        return list(found.values())

    def _candidates(self, tokens: Sequence[str]) -> list[Person]:
        """People whose surname is near one of the tokens (or inside a run-together token)."""
        out: dict[str, Person] = {}
        for tok in tokens:
            keys = {tok}
            if len(tok) >= self.t.part_fuzzy_min_len:
                keys |= {
                    s
                    for s, _, _ in process.extract(
                        tok, self._surnames, scorer=fuzz.ratio, score_cutoff=self.t.part_ratio, limit=20
                    )
                }
            if len(tokens) == 1:
                # "janedoe", "jdoe", "doejane": a surname at either end of one token.
                keys |= {tok[i:] for i in range(1, len(tok))} | {tok[:i] for i in range(1, len(tok))}
            for k in keys:
                for p in self._by_surname.get(k, []):
                    out[p.key] = p
        # Misspelt short surnames ("Dooe") are only near as whole names.
        for _, _, idx in process.extract(
            " ".join(tokens),
            self._full_names,
            scorer=fuzz.token_sort_ratio,
            score_cutoff=self.t.name_ratio,
            limit=20,
        ):
            out[self.people[idx].key] = self.people[idx]
        return list(out.values())

    def _part_equal(self, a: str, b: str) -> bool:
        if a == b:
            return True
        if min(len(a), len(b)) < self.t.part_fuzzy_min_len:
            return False
        # One name extending the other is another name (Robert/Roberta, Smith/Smithson), not a
        # misspelling: look-alike spellings substitute letters, which folding already undoes.
        if a.startswith(b) or b.startswith(a):
            return False
        return fuzz.ratio(a, b) >= self.t.part_ratio

    def _compare(self, tokens: Sequence[str], p: Person) -> str:
        if len(p.tokens) == 1:
            # A one-word name (a mononym) needs the whole display name to be that word.
            return "exact" if tokens == p.tokens and len(p.surname) >= 4 else ""
        if len(tokens) == 1:
            return self._compare_joined(tokens[0], p)
        if tuple(tokens) == p.tokens:
            return "exact"
        if sorted(tokens) == sorted(p.tokens):
            return "reordered"
        how = self._compare_parts(tokens, p)
        if how:
            return how
        whole = fuzz.token_sort_ratio(" ".join(tokens), " ".join(p.tokens))
        if whole >= self.t.name_ratio and len(tokens) <= len(p.tokens) + 1 and not _extends(tokens, p.tokens):
            return "fuzzy"
        return ""

    def _compare_parts(self, tokens: Sequence[str], p: Person) -> str:
        # Beyond given name and surname, allow the person's middle names, or one extra token.
        if len(tokens) - 2 > max(1, len(p.tokens) - 2):
            return ""
        for si, sur in enumerate(tokens):
            if not self._part_equal(sur, p.surname):
                continue
            # The given name is written first ("Jane Q. Doe"), or right after the surname
            # ("Doe, Jane Q.", "Garcia Lopez, Maria"); a middle initial never stands in for it
            # ("Stephen D. Doe").
            for gi in dict.fromkeys(i for i in (0, si + 1) if i != si and i < len(tokens)):
                how = self._given_how(tokens[gi], p.given)
                if not how:
                    continue
                if sur != p.surname:
                    return "fuzzy"
                if how == "exact" and gi > si:
                    return "reordered"
                return how
        return ""

    def _given_how(self, g: str, given: str) -> str:
        if g == given:
            return "exact"
        if len(g) == 1:
            return "initial" if g in _initials_of(given) else ""
        if same_given_name(g, given):
            return "nickname"
        if self._part_equal(g, given):
            return "fuzzy"
        return ""

    def _compare_joined(self, tok: str, p: Person) -> str:
        """One run-together token: "janedoe", "jdoe", "doejane", "bobsmith"."""
        given, surname = p.given, p.surname
        if tok in (given + surname, surname + given):
            return "exact"
        for head, tail in (
            (tok[: -len(surname)], tok[-len(surname) :]),
            (tok[len(surname) :], tok[: len(surname)]),
        ):
            if tail != surname or not head:
                continue
            if len(head) == 1 and head in _initials_of(given):
                return "initial"
            if len(head) > 1 and same_given_name(head, given):
                return "nickname"
        return ""


def vip_people(vips: Iterable[object]) -> list[Person]:
    """People from VIP entries (objects or dicts with ``name``, ``email``, ``aliases``).

    An alias holding an ``@`` is another address of the VIP; any other alias is another name.
    """
    people: list[Person] = []
    for vip in vips:
        get = vip.get if isinstance(vip, dict) else lambda k, v=vip: getattr(v, k, None)
        name = str(get("name") or "")
        email = str(get("email") or "")
        aliases = [str(a) for a in (get("aliases") or [])]
        addresses = [email, *(a for a in aliases if "@" in a)]
        for n in [name, *(a for a in aliases if "@" not in a)]:
            person = person_from_name(n, addresses, key=name)
            if person:
                people.append(person)
    return people
