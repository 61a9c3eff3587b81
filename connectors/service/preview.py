"""A safe preview of a held or quarantined message for the admin console.

The message is read from its hidden folder through Graph (the tenant's remediator client) within
a time limit. Nothing of it is shown as mail: the headers as text, the body as text (HTML turned
to text: scripts, styles and images dropped, each link written out as its text and its real
destination -- our redirector's and known wrappers' links decoded -- never a live link),
attachments listed by name, type and size with the findings that name them. The template
escapes every string; nothing here produces markup.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.graph.errors import GraphApiError
from connectors.graph.messages import fetch_message
from connectors.service.runtime import Runtime
from tap_core.model.message import Message
from tap_core.parsing.html import parse_html
from tap_core.urls.links import decode_link
from tap_core.urls.unwrap import unwrap

log = logging.getLogger("tap365.console.preview")

#: HTML read for the preview (a body beyond it is cut, and the preview says so).
MAX_HTML_CHARS = 512 * 1024
#: Text shown at most.
MAX_TEXT_CHARS = 100_000
#: Links listed at most (each also stays written out in the text).
MAX_LINKS = 200
#: Header values shown per name at most, and characters of each.
MAX_HEADER_VALUES = 10
MAX_HEADER_CHARS = 2000
SHOWN_HEADERS = (
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Return-Path",
    "Authentication-Results",
    "Received-SPF",
    "ARC-Authentication-Results",
)
_BLOCKS = "p,div,tr,li,h1,h2,h3,h4,h5,h6,table,blockquote,pre,section,article,header,footer"
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class PreviewLink:
    text: str
    #: The real destination: the href with our redirector's and known wrappers' links decoded.
    destination: str
    #: The wrappers removed on the way ("tap365", "safelinks"...).
    wrappers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreviewAttachment:
    name: str
    content_type: str
    size: int
    is_inline: bool
    #: The verdict's findings that name this file (name, weight, reason, evidence).
    findings: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Preview:
    #: "" when the message was read; else why it could not be (shown instead of the message).
    error: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""
    body_kind: str = ""  # "html" (turned to text), "text", or "" (no body)
    links: list[PreviewLink] = field(default_factory=list)
    attachments: list[PreviewAttachment] = field(default_factory=list)
    #: What the preview left out (a body cut at its limit, links beyond MAX_LINKS).
    cut: list[str] = field(default_factory=list)


async def preview(
    runtime: Runtime,
    tenant_id: str,
    mailbox: str,
    message_id: str,
    findings: Sequence[Mapping[str, Any]] = (),
    *,
    timeout: float,
) -> Preview:
    """The message as the preview shows it, or a Preview whose ``error`` says why it is not."""
    graph = runtime.remediator(tenant_id).graph
    try:
        fetched = await asyncio.wait_for(fetch_message(graph, mailbox, message_id), timeout)
    except TimeoutError:
        return Preview(error=f"Microsoft Graph did not answer within {timeout:g} s; try again later.")
    except GraphApiError as exc:
        if exc.status == 404:
            return Preview(
                error="The message is no longer in the mailbox (deleted or moved by someone else)."
            )
        return Preview(error=f"Microsoft Graph refused to read the message: {exc.status} {exc.code}.")
    except Exception as exc:  # auth, network, a message Graph cannot give: said, never a crash
        log.warning("preview of %s in %s: %s", message_id, tenant_id, type(exc).__name__)
        return Preview(error=f"Microsoft Graph could not be reached ({type(exc).__name__}).")
    own = runtime.codec.is_own
    return render(fetched.message, findings, own_link=own)


def render(message: Message, findings: Sequence[Mapping[str, Any]] = (), *, own_link: Any = None) -> Preview:
    """A parsed message as preview text (pure: no I/O). ``own_link(url)`` tells our redirector's links."""
    cut: list[str] = []
    headers = _headers(message)
    links: list[PreviewLink] = []

    def resolve(href: str) -> PreviewLink:
        href = href.strip()
        ours = (lambda u: decode_link(u) if own_link(u) else None) if own_link else decode_link
        result = unwrap(href, own_link_decoder=ours)
        return PreviewLink("", result.url, result.wrappers)

    if message.html_body:
        markup = message.html_body
        if len(markup) > MAX_HTML_CHARS:
            markup = markup[:MAX_HTML_CHARS]
            cut.append(f"the HTML body is cut at {MAX_HTML_CHARS} characters")
        body, links = _html_text(markup, resolve)
        kind = "html"
    elif message.text_body:
        body, kind = message.text_body, "text"
    else:
        body, kind = "", ""
    if len(body) > MAX_TEXT_CHARS:
        body = body[:MAX_TEXT_CHARS]
        cut.append(f"the text is cut at {MAX_TEXT_CHARS} characters")
    if len(links) > MAX_LINKS:
        cut.append(f"{len(links) - MAX_LINKS} more links are written out in the text only")
        links = links[:MAX_LINKS]
    return Preview(
        headers=headers,
        body=body,
        body_kind=kind,
        links=links,
        attachments=_attachments(message, findings),
        cut=cut,
    )


def _headers(message: Message) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name in SHOWN_HEADERS:
        values = message.header_values(name)
        if not values:
            values = _fallback(message, name)
        for value in values[:MAX_HEADER_VALUES]:
            out.append((name, " ".join(str(value).split())[:MAX_HEADER_CHARS]))
    return out


def _fallback(message: Message, name: str) -> list[str]:
    """What Graph's own fields say when the header itself was not kept."""
    if name == "From" and message.from_address:
        return [str(message.from_address)]
    if name == "To" and message.to:
        return [", ".join(str(a) for a in message.to)]
    if name == "Cc" and message.cc:
        return [", ".join(str(a) for a in message.cc)]
    if name == "Subject" and message.subject:
        return [message.subject]
    when = message.sent_at or message.received_at
    if name == "Date" and when:
        return [when.isoformat()]
    return []


def _html_text(markup: str, resolve: Any) -> tuple[str, list[PreviewLink]]:
    tree = parse_html(markup).tree
    tree.strip_tags(["script", "style", "head", "noscript", "template", "object", "embed", "iframe"])
    links: list[PreviewLink] = []
    for node in tree.css("a[href], area[href]"):
        text = " ".join((node.text(separator=" ") or "").split())
        found = resolve(str(node.attributes.get("href") or ""))
        link = PreviewLink(text[:500], found.destination, found.wrappers)
        links.append(link)
        shown = f"{text} [{link.destination}]" if text else f"[{link.destination}]"
        node.replace_with(shown)
    for node in tree.css("img"):
        alt = " ".join(str(node.attributes.get("alt") or "").split())[:200]
        node.replace_with(f"[image: {alt}]" if alt else "[image]")
    for node in tree.css("br"):
        node.replace_with("\n")
    for node in tree.css(_BLOCKS):
        node.insert_after("\n")
    root = tree.body or tree.root
    text = root.text(separator="") if root is not None else ""
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip(), links


def _attachments(message: Message, findings: Sequence[Mapping[str, Any]]) -> list[PreviewAttachment]:
    out = []
    for a in message.attachments:
        name = a.name or "(no name)"
        named = [
            f
            for f in findings
            if a.name and (a.name in str(f.get("evidence", "")) or a.name in str(f.get("reason", "")))
        ]
        out.append(PreviewAttachment(name[:300], a.content_type[:200], a.size, a.is_inline, named))
    return out
