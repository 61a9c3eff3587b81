"""The words of a message as the learned model reads them: subject and visible body.

Only what the reader sees: the subject, then the plain-text body, or the HTML body's visible text
when the plain part is missing or a stub. Words are letters only (3 to 20 of them), lower-cased
and without accents. Left out, so that a model learns what a lure says rather than who received
it, in which language or in which decade: web and mail addresses (their parts are not words of
the message), function words of the shipped languages (``data/detect/stopwords.txt``), and the
recipients' own names and address parts.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from tap_core.data import data_lines
from tap_core.model.message import Message
from tap_core.parsing.html import html_to_text
from tap_core.parsing.text import strip_marks

#: Characters of body read: the lure is at the top.
MAX_TEXT_CHARS = 20_000
#: A plain-text part shorter than this is read together with the HTML part's text.
_STUB_CHARS = 500
_WORD_RE = re.compile(r"[^\W\d_]{3,20}")
_ADDRESS_PART_RE = re.compile(r"[^\W_]+")
#: A bare host, maybe with a path ("example.com/login"), once the token's punctuation is off.
_HOST_RE = re.compile(r"[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?:[/?#]\S*)?", re.IGNORECASE)
_EDGE_PUNCTUATION = "()<>[]{}\"'.,;:!?*"


def _is_address(token: str) -> bool:
    """A web or mail address, or a bare host: markup of the message, not its words."""
    if "@" in token or "://" in token or token[:4].lower() == "www.":
        return True
    core = token.strip(_EDGE_PUNCTUATION)
    return "." in core and _HOST_RE.fullmatch(core) is not None


@cache
def stopwords() -> frozenset[str]:
    return frozenset(word for line in data_lines("detect", "stopwords.txt") for word in line.split())


@lru_cache(maxsize=65_536)
def _token_words(token: str) -> tuple[str, ...]:
    """The words of one whitespace-separated token (tokens repeat across mail: cached)."""
    return tuple(_WORD_RE.findall(_fold(token)))


def _fold(text: str) -> str:
    folded = text.casefold()
    return folded if folded.isascii() else strip_marks(unicodedata.normalize("NFKD", folded))


def visible_text(message: Message) -> str:
    """Subject and visible body text (bounded), as one string."""
    parts = [message.subject]
    text = message.text_body or ""
    if text.strip():
        parts.append(text[:MAX_TEXT_CHARS])
    if message.html_body and len(text.strip()) < _STUB_CHARS:
        parts.append(html_to_text(message.html_body[: MAX_TEXT_CHARS * 8])[:MAX_TEXT_CHARS])
    return "\n".join(parts)


def _personal(message: Message) -> set[str]:
    """Words that name the recipients: their display names and the parts of their addresses."""
    out: set[str] = set()
    for address in message.recipients:
        for part in (address.name, address.address):
            out.update(_ADDRESS_PART_RE.findall(_fold(part)))
    return out


def message_words(message: Message) -> frozenset[str]:
    """The distinct words of ``message`` (see module docstring)."""
    words: set[str] = set()
    for token in visible_text(message).split():
        if not _is_address(token):
            words.update(_token_words(token))
    return frozenset(words - stopwords() - _personal(message))
