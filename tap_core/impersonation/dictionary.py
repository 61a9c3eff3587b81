"""The targeted-threat dictionary: BEC words and phrases in the subject and body.

Terms live in ``data/impersonation/threat_dictionary.<lang>.txt`` ([strong] and [weak] sections)
and in the policy (``extra_threat_terms``). A message matches on one strong term, or on two
different weak terms: single words like "invoice" or "urgent" are everyday business mail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from tap_core.data import data_text
from tap_core.parsing.html import html_to_text
from tap_core.parsing.text import fold_text

#: How much of the body is read: BEC requests are short, newsletters are long.
MAX_BODY_CHARS = 20_000
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class ThreatTerms:
    strong: tuple[str, ...]
    weak: tuple[str, ...]


def shipped_languages() -> list[str]:
    names = (p.name for p in resources.files("tap_core").joinpath("data", "impersonation").iterdir())
    return sorted(n.split(".")[1] for n in names if n.startswith("threat_dictionary.") and n.endswith(".txt"))


@cache
def load_terms(lang: str) -> ThreatTerms:
    """The shipped terms of one language."""
    text = data_text("impersonation", f"threat_dictionary.{lang}.txt")
    sections: dict[str, list[str]] = {"strong": [], "weak": []}
    current = "strong"
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip().lower()
            sections.setdefault(current, [])
            continue
        sections[current].append(line)
    return ThreatTerms(tuple(sections["strong"]), tuple(sections["weak"]))


def _normalise(text: str) -> str:
    # Folded like names and domains; "rn" written back as "m" on both sides of every compare.
    return fold_text(text).replace("rn", "m")


@lru_cache(maxsize=65_536)
def _normalised_token(token: str) -> str:
    return _normalise(token)


def _words(text: str) -> tuple[str, ...]:
    # Folded token by token: the same words as folding the whole text (folding never reaches
    # across white space), and tokens repeat from message to message.
    return tuple(_WORD.findall(" ".join(_normalised_token(t) for t in text.split())))


class _TermIndex:
    """Terms as word sequences, looked up by their first word: one dict probe per text word.

    A term matches its words in order with any punctuation or spacing between them, or none:
    "W-2" is also indexed as "w2", "gift card" as "giftcard".
    """

    def __init__(self, terms: Iterable[str]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for term in terms:
            words = _words(term)
            if not words:
                continue
            forms = {words, ("".join(words),)}
            for form in forms:
                self._by_first.setdefault(form[0], []).append((form, term))
        for entries in self._by_first.values():
            entries.sort(key=lambda e: -len(e[0]))

    def find(self, words: Sequence[str]) -> list[str]:
        found: dict[str, None] = {}
        for i, word in enumerate(words):
            for form, term in self._by_first.get(word, ()):
                if tuple(words[i : i + len(form)]) == form:
                    found[term] = None
        return list(found)


class ThreatDictionary:
    """Compiled terms for a set of languages plus the policy's own terms."""

    def __init__(
        self, languages: Sequence[str] = (), extra_strong: Iterable[str] = (), extra_weak: Iterable[str] = ()
    ) -> None:
        strong: list[str] = []
        weak: list[str] = []
        for lang in list(languages) or shipped_languages():
            terms = load_terms(lang)
            strong += terms.strong
            weak += terms.weak
        self._strong = _TermIndex([*strong, *extra_strong])
        self._weak = _TermIndex([*weak, *extra_weak])

    def scan(self, subject: str, body: str) -> tuple[list[str], list[str]]:
        """(strong terms, weak terms) found in the subject and body."""
        words = _words(f"{subject}\n{body[:MAX_BODY_CHARS]}")
        return self._strong.find(words), self._weak.find(words)

    def matches(self, subject: str, body: str) -> list[str]:
        """The terms that make the message match (empty when it does not)."""
        strong, weak = self.scan(subject, body)
        if strong:
            return strong + weak
        return weak if len(weak) >= 2 else []


def body_text(text_body: str | None, html_body: str | None) -> str:
    """The readable body: the text part, else the HTML with scripts, styles and tags removed."""
    if text_body and text_body.strip():
        return text_body
    if html_body:
        return html_to_text(html_body[: MAX_BODY_CHARS * 4])
    return ""
