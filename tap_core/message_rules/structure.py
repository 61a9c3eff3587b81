"""Structure rules: how the message is built, whatever its links.

* ``fake_reply``: a subject that reads as a reply or a forward ("RE:", "AW:", "Fwd:") on a
  message that answers nothing (no In-Reply-To, no References, no Outlook Thread-Index of a
  reply): lures borrow the trust a running conversation has. Mail clients set those headers
  on replies (some clients of the early 2000s did not: old list archives show it).
* ``hidden_text``: text in the HTML body the reader cannot see (inline ``display:none``,
  ``visibility:hidden``, a zero or one-pixel font, zero opacity, a zero height that hides its
  overflow; see :mod:`._hidden`), fed to filters to dilute the lure. A mailing tool's one
  short "preheader" at the top of the body (the summary line inbox lists show) is not counted,
  nor are the blocks responsive mail hides inline and shows from its stylesheet.
"""

from __future__ import annotations

import base64
import binascii
import re

from tap_core.message_rules._hidden import hidden_blocks
from tap_core.message_rules._view import rules
from tap_core.model.findings import Finding
from tap_core.model.message import Message
from tap_core.parsing.html import parse_html

#: Reply and forward prefixes: English, German, Dutch, French, Spanish, Portuguese, Italian,
#: Nordic, Polish, Turkish, Hungarian, Indonesian, Welsh, Greek, Russian, Chinese, Arabic, Hebrew.
_PREFIXES = (
    "re", "fw", "fwd", "aw", "wg", "antw", "doorst", "tr", "rv", "res", "enc", "r", "rif",
    "sv", "vs", "vl", "vb", "fs", "odp", "pd", "ynt", "ilt", "vá", "bls", "trs", "atb", "yml",
    "απ", "σχετ", "πρθ", "отв", "пересл", "回复", "回覆", "答复", "转发", "轉寄", "رد", "השב", "הועבר",
)
#: At the start of the subject (after at most one gateway or list tag, "[EXTERNAL]"), a prefix
#: with an optional counter ("Re[2]:", "RE^3:") and its colon ("RE :", "AW:", "回复：").
_PREFIX_ALTERNATIVES = "|".join(sorted(map(re.escape, _PREFIXES), key=len, reverse=True))
_REPLY_RE = re.compile(
    r"\s*(?:\[[^\]\n]{1,40}\]\s*)?(?P<prefix>(?:" + _PREFIX_ALTERNATIVES
    + r")(?:\s?[\[(]\d{1,3}[\])]|\^\d{1,3})?\s{0,2}[:：])",
    re.IGNORECASE,
)

#: The HTML read for hidden text (the parse is linear; this bounds its cost).
_MAX_HTML_CHARS = 500_000
#: Hidden text shorter than this (all blocks together) is noise, not a message to filters.
_MIN_HIDDEN_CHARS = 30
#: A preheader longer than this is no inbox summary line (inboxes show up to 100-140).
_MAX_PREHEADER_CHARS = 150
#: A declaration that may hide text (checked on the raw HTML before parsing it). The lookahead
#: on the first letters lets the engine skip to them instead of trying each branch at every
#: character (half the time on real mail; no other character stands for them ignoring case).
_HIDING_HINT_RE = re.compile(
    r"(?=[dvfoh])(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|font-size\s*:\s*(?:0|1p|\.)"
    r"|opacity\s*:\s*[0.]|height\s*:\s*0)", re.IGNORECASE)
#: Outlook's Thread-Index: 22 bytes for a new conversation, 5 more for each reply or forward.
_THREAD_INDEX_ROOT_BYTES = 22


def _answers_a_message(message: Message) -> bool:
    """In-Reply-To or References, or an Outlook Thread-Index longer than a new conversation's
    (Microsoft clients thread through it; older ones set neither of the other two)."""
    if any((message.header(h) or "").strip() for h in ("In-Reply-To", "References")):
        return True
    index = "".join((message.header("Thread-Index") or "").split())[:200]
    try:
        return len(base64.b64decode(index + "=" * (-len(index) % 4))) > _THREAD_INDEX_ROOT_BYTES
    except (binascii.Error, ValueError):
        return False


def fake_reply(message: Message) -> Finding | None:
    """A reply or forward prefix on a message that refers to no earlier one."""
    if not message.headers:
        return None  # headers not read (a Graph message without internetMessageHeaders)
    m = _REPLY_RE.match(message.subject)
    if not m or _answers_a_message(message):
        return None
    prefix = m.group("prefix")
    return rules()["fake_reply"].finding(prefix, prefix=prefix)


def hidden_text(message: Message) -> Finding | None:
    """At least ~30 characters of body text hidden from the reader, beyond one preheader."""
    html = message.html_body[:_MAX_HTML_CHARS] if message.html_body else ""
    if not _HIDING_HINT_RE.search(html):
        return None  # no declaration that could hide anything: no parse
    try:
        blocks = hidden_blocks(parse_html(html).tree)
    except Exception:  # unreadable HTML hides nothing we could show
        return None
    texts = [(block, text) for block in blocks if (text := block.text)]
    if texts and len(texts[0][1]) < _MAX_PREHEADER_CHARS and not texts[0][0].after_text:
        texts = texts[1:]  # the preheader: the inbox's summary line, first in the body
    chars = sum(len(text) for _, text in texts)
    if chars < _MIN_HIDDEN_CHARS:
        return None
    how = ", ".join(dict.fromkeys(block.how for block, _ in texts))
    sample = " ".join(text for _, text in texts)[:120]
    return rules()["hidden_text"].finding(f"{how}: {sample}", chars=chars, how=how)
