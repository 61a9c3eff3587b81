"""Text folding shared by the name and domain checks (impersonation, look-alikes, page words):
Unicode confusables (a UTS #39 skeleton), diacritics and case, so that look-alike spellings
compare equal.

The confusables table is Unicode's own data (``data/impersonation/confusables.tsv``), read once.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from tap_core.data import data_lines


@cache
def _confusables() -> dict[int, str]:
    table: dict[int, str] = {}
    for line in data_lines("impersonation", "confusables.tsv"):
        src, dst = line.split("\t")
        table[int(src, 16)] = "".join(chr(int(cp, 16)) for cp in dst.split())
    return table


# Latin letters that UTS #39 leaves alone but that read as a plain letter: "t with stroke",
# "small capital m", "u bar"... Derived from the Unicode character names (stdlib unicodedata).
_LATIN_NAME = re.compile(r"^LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL )?([A-Z])(?: WITH .*| BAR)?$")
_LATIN_BLOCKS = (
    (0x00C0, 0x0250),
    (0x0250, 0x02B0),
    (0x1D00, 0x1DC0),
    (0x1E00, 0x1F00),
    (0x2C60, 0x2C80),
    (0xA720, 0xA800),
    (0xAB30, 0xAB70),
)
# Letters whose names do not say which plain letter they resemble.
_LATIN_EXTRA = {"ə": "e", "ǝ": "e", "ɘ": "e", "ŋ": "n", "ƿ": "p", "þ": "p", "ɡ": "g", "ſ": "f", "ɩ": "i"}


@cache
def _latin_base() -> dict[int, str]:
    table: dict[int, str] = {}
    for start, end in _LATIN_BLOCKS:
        for cp in range(start, end):
            m = _LATIN_NAME.match(unicodedata.name(chr(cp), ""))
            if m:
                table[cp] = m.group(1).lower()
    table.update({ord(k): v for k, v in _LATIN_EXTRA.items()})
    return table


def _normalize(form: str, text: str) -> str:
    # Every normal form of ASCII is itself: most mail is ASCII, and normalising a whole body
    # character by character was the largest cost of the impersonation checks.
    return text if text.isascii() else unicodedata.normalize(form, text)  # type: ignore[arg-type]


def skeleton(text: str) -> str:
    """The UTS #39 skeleton: NFD, map every character to its prototype, NFD again."""
    return _normalize("NFD", _normalize("NFD", text).translate(_confusables()))


def remove_invisible(text: str) -> str:
    """Drop format characters (zero-width space and joiners, soft hyphen, bidi controls)."""
    if text.isascii():
        return text  # no format character is ASCII
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def strip_marks(text: str) -> str:
    """Drop combining marks (diacritics, overlays) from NFD text."""
    if text.isascii():
        return text  # no combining mark is ASCII
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@lru_cache(maxsize=16384)
def fold(text: str) -> str:
    """:func:`fold_text` with a cache, for short strings met again and again (names, labels)."""
    return fold_text(text)


def fold_text(text: str) -> str:
    """Case-, diacritic- and confusable-insensitive form of any text.

    Case is folded first, so "JAMIE" and "Jamie" agree; only a capital I inside a mixed-case
    word ("AIice") is read as the l it imitates. The skeleton runs again after a second case
    fold because some prototypes are capitals (``0`` -> ``O``). Latin letters with hooks, strokes
    and bars that UTS #39 keeps become their plain letter.
    """
    # NFKC first: fullwidth and mathematical letters, ligatures; then drop invisible format
    # characters (zero-width space and joiners, soft hyphen) that split a name in two.
    text = remove_invisible(_normalize("NFKC", text))
    text = _WORD.sub(_capital_i_as_l, text)
    once = strip_marks(skeleton(text.casefold())).casefold().translate(_latin_base())
    return strip_marks(skeleton(once)).translate(_latin_base())


_WORD = re.compile(r"\w{2,}")


def _capital_i_as_l(m: re.Match[str]) -> str:
    word = m.group(0)
    if "I" not in word[1:] or word.isupper():
        return word
    return word[0] + word[1:].replace("I", "l")
