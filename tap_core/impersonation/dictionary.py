"""The targeted-threat dictionary: BEC words and phrases in the subject and body.

Terms live in ``data/impersonation/threat_dictionary.<lang>.txt`` ([strong] and [weak] sections)
and in the policy (``extra_threat_terms``). A message matches on one strong term, or on two
different weak terms: single words like "invoice" or "urgent" are everyday business mail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from tap_core.impersonation.text import data_dir, fold_text

#: How much of the body is read: BEC requests are short, newsletters are long.
MAX_BODY_CHARS = 20_000
_WORD = re.compile(r"\w+")
_TAG = re.compile(r"<[^>]*>")
_SKIP = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class ThreatTerms:
    strong: tuple[str, ...]
    weak: tuple[str, ...]


def shipped_languages() -> list[str]:
    names = (p.name for p in data_dir().iterdir())
    return sorted(n.split(".")[1] for n in names if n.startswith("threat_dictionary.") and n.endswith(".txt"))


@cache
def load_terms(lang: str) -> ThreatTerms:
    """The shipped terms of one language."""
    text = data_dir().joinpath(f"threat_dictionary.{lang}.txt").read_text("utf-8")
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


def _pattern(term: str) -> str:
    # Words in order with any punctuation or spacing between them (or none): "W-2" = "w2".
    words = _WORD.findall(_normalise(term))
    return r"(?<!\w)" + r"[\W_]*".join(re.escape(w) for w in words) + r"(?!\w)" if words else ""


class ThreatDictionary:
    """Compiled terms for a set of languages plus the policy's own terms."""

    def __init__(
        self, languages: Sequence[str] = (), extra_strong: Iterable[str] = (), extra_weak: Iterable[str] = ()
    ) -> None:
        langs = list(languages) or shipped_languages()
        strong: dict[str, str] = {}
        weak: dict[str, str] = {}
        for lang in langs:
            terms = load_terms(lang)
            strong.update((t, _pattern(t)) for t in terms.strong)
            weak.update((t, _pattern(t)) for t in terms.weak)
        strong.update((t, _pattern(t)) for t in extra_strong)
        weak.update((t, _pattern(t)) for t in extra_weak)
        self._strong = self._compile(strong)
        self._weak = self._compile(weak)

    @staticmethod
    def _compile(terms: dict[str, str]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
        # One alternation, longest first; named lookup from the matched (folded) text back to the term.
        items = [(t, p) for t, p in terms.items() if p]
        if not items:
            return None, {}
        items.sort(key=lambda tp: -len(tp[1]))
        regex = re.compile("|".join(f"({p})" for _, p in items))
        return regex, {str(i + 1): t for i, (t, _) in enumerate(items)}

    @staticmethod
    def _find(compiled: tuple[re.Pattern[str] | None, dict[str, str]], text: str) -> list[str]:
        regex, names = compiled
        if regex is None:
            return []
        found: dict[str, None] = {}
        for m in regex.finditer(text):
            found[names[str(m.lastindex)]] = None
        return list(found)

    def scan(self, subject: str, body: str) -> tuple[list[str], list[str]]:
        """(strong terms, weak terms) found in the subject and body."""
        text = _normalise(f"{subject}\n{body[:MAX_BODY_CHARS]}")
        return self._find(self._strong, text), self._find(self._weak, text)

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
        return _TAG.sub(" ", _SKIP.sub(" ", html_body[: MAX_BODY_CHARS * 4]))
    return ""
