"""Rewrite links in message bodies so clicks go through the redirector.

Only the attribute values that change are touched: every other byte of the HTML stays as it
was (no parse-and-serialise round trip, which would reformat the sender's markup). Text bodies
get URLs replaced in place. The caller decides, per URL, what it becomes (``replacement``
returns the new link, or None to leave it), so exclusions, verdicts and idempotence live in
one place (:mod:`tap_core.pipeline`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tap_core.parsing.html import block_spans

#: Elements whose ``href`` is a link a person clicks. VML shapes are the "bulletproof buttons"
#: of marketing mail that Outlook desktop renders (often inside conditional comments).
_LINK_TAGS = frozenset({"a", "area", "v:roundrect", "v:rect", "v:shape", "v:oval"})
_TAG_RE = re.compile(
    r"""<(?P<name>[A-Za-z][A-Za-z0-9:_-]*)(?P<attrs>(?:\s(?:[^>"']|"[^"]*"|'[^']*')*)?)/?>""", re.S
)
_ATTR_RE = re.compile(
    r"""(?P<name>[^\s"'>/=]+)(?:\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<uq>[^\s"'=<>`]+)))?""",
    re.S,
)
#: Raw-text elements whose content is not markup.
_RAW_TEXT_START_RE = re.compile(r"<(script|style|textarea|title)\b", re.I)
_TAG_START_RE = re.compile(r"<[A-Za-z]")

Replacement = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class RewriteResult:
    body: str
    #: (original value as decoded from the attribute or text, new link) in order of appearance.
    changes: list[tuple[str, str]]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _skipped_spans(body: str) -> list[tuple[int, int]]:
    return block_spans(body, _RAW_TEXT_START_RE)


def _tags(body: str) -> Iterator[re.Match[str]]:
    """Complete start tags, in order. Stops where no ">" follows (every later attempt would run
    to the end of the body and fail: quadratic on "<a href=" repeated)."""
    pos = 0
    while (start := _TAG_START_RE.search(body, pos)) is not None:
        if body.find(">", start.start()) < 0:
            return
        tag = _TAG_RE.match(body, start.start())
        if tag is None:
            pos = start.start() + 1
            continue
        yield tag
        pos = tag.end()


def rewrite_html(body: str, replacement: Replacement) -> RewriteResult:
    """Replace the ``href`` values of link elements for which ``replacement`` gives a link."""
    out: list[str] = []
    changes: list[tuple[str, str]] = []
    last = 0
    skipped = _skipped_spans(body)
    skip_i = 0
    for tag in _tags(body):
        start = tag.start()
        while skip_i < len(skipped) and skipped[skip_i][1] <= start:
            skip_i += 1
        if skip_i < len(skipped) and skipped[skip_i][0] < start < skipped[skip_i][1]:
            continue
        if tag.group("name").lower() not in _LINK_TAGS:
            continue
        attrs_start = tag.start("attrs")
        for attr in _ATTR_RE.finditer(tag.group("attrs")):
            if attr.group("name").lower() != "href":
                continue
            group = next((g for g in ("dq", "sq", "uq") if attr.group(g) is not None), None)
            if group is None:
                break
            raw_value = attr.group(group)
            value = html.unescape(raw_value).strip()
            new = replacement(value)
            if new is not None and new != value:
                vstart = attrs_start + attr.start(group)
                vend = attrs_start + attr.end(group)
                out.append(body[last:vstart])
                escaped = html.escape(new, quote=True)
                if group == "uq":
                    # An unquoted value cannot hold every character of a link: quote it.
                    escaped = f'"{escaped}"'
                out.append(escaped)
                last = vend
                changes.append((value, new))
            break  # one href per element
    out.append(body[last:])
    return RewriteResult("".join(out), changes)


def rewrite_text(body: str, spans: list[tuple[int, int]], replacement: Replacement) -> RewriteResult:
    """Replace the URL at each (start, end) span of ``body`` for which ``replacement`` gives one.

    ``spans`` come from the text extractor, in any order; overlapping spans are ignored.
    """
    out: list[str] = []
    changes: list[tuple[str, str]] = []
    last = 0
    for start, end in sorted(spans):
        if start < last:
            continue
        value = body[start:end]
        new = replacement(value)
        if new is None or new == value:
            continue
        out.append(body[last:start])
        out.append(new)
        last = end
        changes.append((value, new))
    out.append(body[last:])
    return RewriteResult("".join(out), changes)
