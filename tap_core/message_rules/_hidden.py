"""The text of an HTML body a reader cannot see, in blocks, with one walk of the tree.

Each element inherits how the text around it is hidden: ``display:none``, zero opacity and a
zero height that hides its overflow hide everything inside; ``visibility:hidden`` and a zero or
one-pixel font hide what an element inside does not show again (``visibility:visible``, an
absolute font size). A block is the text under the element where hiding begins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from tap_core.message_rules._css import HIDING, Stylesheet, declarations, hides, shows, stylesheet

#: Spaces and the invisible characters mailing tools pad preheaders with (zero-width joiners,
#: soft hyphens, combining grapheme joiners, Hangul fillers, byte order marks).
_FILLER_RE = re.compile(
    "[\\s\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]+"
)
#: A style that names one of the hiding properties (each holds one of these words); one that
#: names none declares none of them (``declarations`` reads them lowercased, as written).
_MAY_HIDE_RE = re.compile("display|visibility|font-size|opacity|height", re.IGNORECASE)
_NO_TEXT_TAGS = frozenset({"style", "script", "title", "template", "-comment"})
_BOXES = ("max-height", "height")
#: Stylesheet text read for the rules that show hidden text again.
_MAX_CSS_CHARS = 100_000


@dataclass(slots=True)
class Block:
    """The text under one element that hides it."""

    #: The declaration that hides it ("display:none").
    how: str
    #: Whether the reader saw any text before this block.
    after_text: bool
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The block's text, spaces and invisible fillers collapsed."""
        return _FILLER_RE.sub(" ", " ".join(self.parts)).strip()


def _names(node: LexborNode) -> set[str]:
    attrs = node.attributes
    names = {node.tag or "", *("." + c.lower() for c in (attrs.get("class") or "").split())}
    if attrs.get("id"):
        names.add("#" + (attrs.get("id") or "").lower())
    return names


def _hiding(node: LexborNode, sheet: Stylesheet, inherited: dict[str, str]) -> dict[str, str]:
    """How the text inside ``node`` is hidden, by property ({} when it is shown)."""
    style = node.attributes.get("style") or ""
    if not sheet.names and (not style or not _MAY_HIDE_RE.search(style)):
        return inherited  # no declaration of a hiding property: nothing changes here
    decls = declarations(style) if style else {}
    forced = declarations(style, important=True) if "!important" in style else {}
    names = _names(node) if sheet.names else set()
    out = dict(inherited)
    for prop, undoable in HIDING.items():
        value = decls.get(prop)
        if prop not in forced and names & sheet.forced[prop]:
            value = "shown"  # a stylesheet's !important (a media query's) beats the inline style
        elif value is None and names & sheet.shown[prop]:
            value = "shown"  # the stylesheet gives the element its own visible value
        if value is None:
            continue
        if value == "shown" or shows(prop, value):
            if undoable:
                out.pop(prop, None)
        elif hides(prop, value) and (prop not in _BOXES or decls.get("overflow") == "hidden"):
            out.setdefault(prop, f"{prop}:{value}" + (" with overflow:hidden" if prop in _BOXES else ""))
    return out


def hidden_blocks(tree: LexborHTMLParser) -> list[Block]:
    """The hidden text of ``tree``'s body, block by block in document order.

    Hiding begins only at an element whose own style hides (a stylesheet is read only for what
    it shows again), so only those elements' subtrees are walked in full; the rest of the
    document is read only until the reader has seen some text (what tells a preheader)."""
    css = "".join(node.text() or "" for node in tree.css("style"))[:_MAX_CSS_CHARS]
    sheet = stylesheet(css)
    body = tree.body or tree.root
    if body is None:
        return []
    starts = [n for n in body.css("[style]") if _hiding(n, sheet, {})]
    if not starts:
        return []
    start_ids = {n.mem_id for n in starts}
    blocks: list[Block] = []
    walked: set[int] = set()  # every node of the subtrees walked
    seen_text = False
    stack: list[LexborNode] = [body]
    while stack and not seen_text:  # document order, until the reader has seen text
        node = stack.pop()
        if node.mem_id in start_ids:
            seen_text = _walk(node, sheet, seen_text, blocks, walked)
        elif node.is_text_node:
            seen_text = bool(_FILLER_RE.sub("", node.text_content or ""))
        elif node.is_element_node and node.tag not in _NO_TEXT_TAGS:
            stack.extend(reversed(list(node.iter(include_text=True))))
    for start in starts:  # the rest come after that text, in document order
        if start.mem_id not in walked:
            _walk(start, sheet, True, blocks, walked)
    return blocks


def _walk(
    start: LexborNode, sheet: Stylesheet, seen_text: bool, blocks: list[Block], walked: set[int]
) -> bool:
    """Add the blocks under ``start`` (whose ancestors hide nothing), in document order; return
    whether the reader has seen text by its end."""
    stack: list[tuple[LexborNode, dict[str, str], Block | None]] = [(start, {}, None)]
    while stack:
        node, hidden, block = stack.pop()
        walked.add(node.mem_id)
        if node.is_text_node:
            text = node.text_content or ""
            if block is not None:
                block.parts.append(text)
            elif not seen_text and _FILLER_RE.sub("", text):
                seen_text = True
            continue
        if not node.is_element_node or node.tag in _NO_TEXT_TAGS:
            continue
        inner = _hiding(node, sheet, hidden)
        if not inner:
            block = None
        elif block is None:  # hiding begins here
            block = Block(next(iter(inner.values())), seen_text)
            blocks.append(block)
        stack.extend((child, inner, block) for child in reversed(list(node.iter(include_text=True))))
    return seen_text
