"""The word lists the page rules read, all data (``tap_core/data/click``): field, consent,
bank and attachment words (``page_words.toml``) and lure and scam phrases; lure language also
comes from the lists the message rules use (``urls/lure_phrases.txt``, the threat dictionaries)."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from tap_core.data import data_lines, data_text
from tap_core.impersonation.dictionary import ThreatDictionary
from tap_core.parsing.text import strip_marks


@cache
def lure_phrases() -> tuple[str, ...]:
    """Account, payment and delivery lures (shared with the message rules) but for the ones that
    are ordinary page labels ("mot de passe"), then scam stories."""
    shared, own = data_lines("urls", "lure_phrases.txt"), data_lines("click", "scam_phrases.txt")
    ordinary = {p.lower() for p in tomllib.loads(data_text("click", "page_words.toml"))["lure"]["ordinary"]}
    return tuple(p for p in dict.fromkeys([*shared, *own]) if p not in ordinary)


@cache
def threat_dictionary() -> ThreatDictionary:
    return ThreatDictionary()  # every shipped language: a page's language is not known


def fold(text: str) -> str:
    """Lower-case words without accents or punctuation; "cardNumber" reads "card number"."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    text = strip_marks(unicodedata.normalize("NFKD", text.casefold()))
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def _terms(terms: Iterable[str]) -> re.Pattern[str]:
    folded = sorted({fold(t) for t in terms if fold(t)}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(t) for t in folded) + r")\b")


@dataclass(frozen=True, slots=True)
class Words:
    sensitive: dict[str, re.Pattern[str]]
    consent: re.Pattern[str]
    allow: re.Pattern[str]
    signin: re.Pattern[str]
    approve: re.Pattern[str]
    financial: re.Pattern[str]
    generic: frozenset[str]
    attachment: re.Pattern[str]


@cache
def page_words() -> Words:
    data = tomllib.loads(data_text("click", "page_words.toml"))
    return Words(
        sensitive={name: _terms(terms) for name, terms in data["sensitive_fields"].items()},
        consent=_terms(data["consent"]["scopes"]),
        allow=_terms(data["consent"]["allow"]),
        signin=_terms(data["consent"]["signin"]),
        approve=_terms(data["consent"]["approve"]),
        financial=_terms(data["financial"]["words"]),
        generic=frozenset(fold(w) for w in data["financial"]["generic"]),
        attachment=_terms(data["attachment"]["words"]),
    )
