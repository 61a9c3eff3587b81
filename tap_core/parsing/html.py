"""Parse hostile HTML in linear time: the one place that builds a Lexbor tree.

Lexbor's HTML5 tree builder walks the stack of open elements for each tag, so a document of
nested ``<div>``s costs time quadratic in its depth (100,000 of them, 500 kB, take seconds per
parse). Browsers cap the depth instead (Chromium at 512: deeper elements become siblings).
Here, before parsing, in one linear pass, an element that would open deeper than ``max_depth``
is closed right after its start tag (its matching end tag is dropped), so what it held becomes
its following siblings: every element keeps its attributes (links, forms, frames, objects,
images) and every text stays, only the excess depth goes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

#: Elements nested deeper than this are flattened (Chromium: 512).
MAX_HTML_DEPTH = 512

#: The start of a tag; its end is the next ">" (found with str.find: a regex running to a ">"
#: that never comes would rescan the rest of the text from every "<").
_TAG_START_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
#: Elements that never hold children (or whose content is text), and elements a following
#: sibling closes implicitly ("<p>a<p>b", "<li>", "<td>"): neither makes the tree deeper.
_FLAT = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "param", "keygen", "frame", "basefont", "bgsound", "image",
    "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody", "thead", "tfoot",
    "colgroup", "caption", "rb", "rt", "rp", "rtc",
    "script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "plaintext",
    # A new one closes the open one, so they never stack; left whole, links keep their text.
    "a", "form", "button", "select",
})
#: Elements whose content the parser reads as text, up to their end tag.
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"})
#: Never closed early: the document's own frame.
_KEEP = frozenset({"html", "head", "body"})


@dataclass(frozen=True, slots=True)
class ParsedHtml:
    tree: LexborHTMLParser
    #: True when elements nested deeper than the limit were flattened before parsing.
    flattened: bool


def flatten_deep_nesting(markup: str, max_depth: int = MAX_HTML_DEPTH) -> tuple[str, bool]:
    """``markup`` with elements deeper than ``max_depth`` closed at once (see module docstring),
    and whether any was. Linear in the length of ``markup``."""
    if markup.count("<") <= max_depth:
        return markup, False  # fewer tags than the limit: it cannot be that deep
    depth = 0
    closed_early = 0  # elements closed at their start tag whose end tags are still to come
    edits: list[tuple[int, int, str]] = []
    lower = markup.lower()
    pos = 0
    while (m := _TAG_START_RE.search(markup, pos)) is not None:
        gt = markup.find(">", m.end())
        if gt < 0:
            break  # no tag ends after this point: the rest is text to the parser
        pos = gt + 1
        closing, name = m.group(1), m.group(2).lower()
        self_closing = markup[gt - 1] == "/" and gt - 1 >= m.end()
        if name in _RAW_TEXT and not closing:
            # Script and style content is text, "<div>" in a string is no tag: skip to the end tag.
            end = lower.find(f"</{name}", pos)
            pos = len(markup) if end < 0 else end
            continue
        if name in _FLAT or (self_closing and not closing):
            continue
        if closing:
            if closed_early and name not in _KEEP:
                closed_early -= 1
                edits.append((m.start(), pos, ""))
            elif depth:
                depth -= 1
        elif depth >= max_depth and name not in _KEEP:
            closed_early += 1
            edits.append((pos, pos, f"</{name}>"))
        else:
            depth += 1
    if not edits:
        return markup, False
    parts: list[str] = []
    pos = 0
    for start, end, text in edits:
        parts.append(markup[pos:start])
        parts.append(text)
        pos = end
    parts.append(markup[pos:])
    return "".join(parts), True


def parse_html(markup: str, max_depth: int = MAX_HTML_DEPTH) -> ParsedHtml:
    """A Lexbor tree of ``markup``, flattened beyond ``max_depth`` first (see module docstring)."""
    flat, flattened = flatten_deep_nesting(markup, max_depth)
    return ParsedHtml(LexborHTMLParser(flat), flattened)


_BLOCK_START = re.compile(r"<(script|style|head)\b", re.I)
#: A tag, for stripping: it cannot hold "<" (so a run of "<" fails at once, never rescans).
_STRIP_TAG = re.compile(r"<[^<>]+>")
_LINE_BREAKS = re.compile(r"<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>", re.I)


def block_spans(markup: str, start: re.Pattern[str]) -> list[tuple[int, int]]:
    """Spans of the elements whose start tag ``start`` matches (group 1: the name), each up to
    and with its end tag, in one pass: one without its end tag runs to the end, as in a browser
    (a lazy ``<script.*?</script>`` regex would rescan the rest of the text from every
    unterminated "<script", quadratic on hostile input)."""
    spans: list[tuple[int, int]] = []
    lower = markup.lower()
    pos = 0
    while (m := start.search(markup, pos)) is not None:
        end = lower.find(f"</{m.group(1).lower()}", m.end())
        if end < 0:
            spans.append((m.start(), len(markup)))
            break
        close = markup.find(">", end)
        pos = len(markup) if close < 0 else close + 1
        spans.append((m.start(), pos))
    return spans


def drop_blocks(markup: str) -> str:
    """``markup`` without its script, style and head blocks (see :func:`block_spans`)."""
    parts: list[str] = []
    pos = 0
    for begin, end in block_spans(markup, _BLOCK_START):
        parts.append(markup[pos:begin])
        parts.append(" ")
        pos = end
    parts.append(markup[pos:])
    return "".join(parts)


def html_to_text(markup: str) -> str:
    """Readable text of HTML without building a tree (for word and password hunting, not for
    display): blocks dropped, line breaks kept, tags stripped, entities decoded. Linear."""
    text = _LINE_BREAKS.sub("\n", drop_blocks(markup))
    return html.unescape(_STRIP_TAG.sub(" ", text))
