"""Seeing what the person sees: pages whose content a script builds are rendered (scripts on) by
an injected :class:`Renderer`, and the rendered DOM is analysed like a static page.

Pure: the protocol, its result, and :func:`needs_render`, which says from the static HTML why a
page must be rendered to be judged. ``connectors.renderer.ChromiumRenderer`` implements the
protocol with headless Chromium, every request of the page going through the safe fetcher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from tap_core.click.fetch import FetchedPage
from tap_core.parsing.html import parse_html

#: At most this much of a page is read to decide whether it needs rendering (the loaders of a
#: script-built page sit near its top; a longer page is judged by its first part).
MAX_RENDER_CHECK_CHARS = 1_000_000
#: A body with fewer visible characters than this, and a script, is built by that script.
NEAR_EMPTY_BODY_CHARS = 40
#: The rendered DOM read back is cut at this many characters (the page rules read no more).
MAX_DOM_CHARS = 1_500_000

# Each pattern is a literal with bounded optional whitespace: linear on any input.
_WRITE = re.compile(r"document\s{0,8}\.\s{0,8}write(?:ln)?\s{0,8}\(", re.I)
_LOADER = re.compile(r"\b(?:atob|eval|unescape)\s{0,8}\(", re.I)
_FUNCTION = re.compile(r"\bFunction\s{0,8}\(")  # the constructor (capital F): code from a string
_BLOB = re.compile(r"new\s{1,8}Blob\s{0,8}\(", re.I)
_SAVE = re.compile(r"\b(?:createObjectURL|msSaveBlob|msSaveOrOpenBlob)\s{0,8}\(", re.I)
_SCRIPT = re.compile(r"<script\b", re.I)


@dataclass(frozen=True, slots=True)
class RefusedRequest:
    """A request of the rendered page that was not made, and why (the fetcher's reason code:
    ``address``, ``scheme``, ``bad_url``..., or ``method``, ``limit``, ``single_use``)."""

    url: str
    code: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RenderedDom:
    """What rendering a page produced."""

    #: The document's ``outerHTML`` after its scripts ran (cut at :data:`MAX_DOM_CHARS`).
    html: str = ""
    final_url: str = ""
    #: URLs of the page's own requests that were fetched and served to it, in order.
    requests: tuple[str, ...] = ()
    #: Requests the page made that were refused (private address, not GET, over a limit...).
    refused: tuple[RefusedRequest, ...] = ()
    #: "" when rendered; else why not: ``timeout`` (the budget ran out), ``unavailable`` (no
    #: browser), ``failed`` (the browser failed), ``no_budget`` (too little time left to try).
    error: str = ""
    detail: str = ""
    #: A per-render limit (requests, bytes) was reached: the DOM is what the page built without
    #: the requests past it.
    limited: str = ""


class Renderer(Protocol):
    async def render(self, page: FetchedPage, *, language: str | None, budget_seconds: float) -> RenderedDom:
        """Render ``page`` (already fetched: its document is never fetched again) with scripts on,
        within ``budget_seconds``; ``language``: the Accept-Language of the person who clicked.

        Never raises for the page's doing: failures come back in :attr:`RenderedDom.error`."""
        ...


def _body_facts(html: str) -> tuple[int, bool, bool]:
    """(visible characters in the body, whether it has a form control, whether it has a link
    that downloads a ``data:`` URL)."""
    tree = parse_html(html).tree
    smuggles = any(
        (a.attributes.get("href") or "").strip().lower().startswith("data:") for a in tree.css("a[download]")
    )
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    body = tree.body
    if body is None:
        return 0, False, smuggles
    text = "".join((body.text(separator=" ") or "").split())
    return len(text), body.css_first("input, form, button, select, textarea") is not None, smuggles


def needs_render(html: str) -> str | None:
    """Why the page's content is built by its scripts (so only a render shows it), or None.

    ``document.write``, script loaders (``atob``, ``eval``, ``unescape``, ``Function(``), HTML
    smuggling (a Blob saved by script, a ``data:`` download link), or a near-empty visible body
    with scripts. Reads at most :data:`MAX_RENDER_CHECK_CHARS` characters."""
    html = html[:MAX_RENDER_CHECK_CHARS]
    scripted = _SCRIPT.search(html) is not None
    if scripted:
        if _BLOB.search(html) and _SAVE.search(html):
            return "html_smuggling: a Blob saved by script"
        if _WRITE.search(html):
            return "document.write"
        m = _LOADER.search(html) or _FUNCTION.search(html)
        if m:
            return f"script loader: {' '.join(m.group(0).split())}"
    lower = html.lower()
    maybe_smuggles = "download" in lower and "data:" in lower
    if not scripted and not maybe_smuggles:
        return None  # without a script or a data: download nothing is built at run time
    chars, has_controls, smuggles = _body_facts(html)
    if smuggles:
        return "html_smuggling: a data: download link"
    if scripted and chars < NEAR_EMPTY_BODY_CHARS and not has_controls:
        return f"near-empty body ({chars} visible characters) with scripts"
    return None
