"""How scanners record the URLs a file carries: a link target, a text, an HTML document, raw strings.

Each URL is recorded once per place (``ScanContext.add_url``) in the normalised form URL Protect
reads (:mod:`tap_core.urls.normalize`), with the context that says where it was found;
``_defanged`` is appended to the context of a URL written defanged (``hxxp://evil[.]com``). The
text scanner is URL Protect's own (:func:`tap_core.urls.extract.text_urls`,
:func:`tap_core.urls.extract.extract_html`): a file's URLs are found as a body's would be.
"""

from __future__ import annotations

import re

from tap_core.attachments.context import ScanContext
from tap_core.urls.extract import extract_html, text_urls
from tap_core.urls.normalize import normalize_url

#: URLs a raw strings scan finds that are identifiers, not links: XML namespaces and schemas.
_NAMESPACE_PREFIXES = (
    "http://schemas.openxmlformats.org/",
    "http://schemas.microsoft.com/",
    "http://www.w3.org/",
    "http://ns.adobe.com/",
    "http://purl.org/",
    "https://schemas.microsoft.com/",
    "http://www.apple.com/DTDs/",
    "urn:",
)
#: A value that starts with a scheme (``https:``, ``mhtml:``...): a link target rather than text.
HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
#: Occurrences read per text, per URL the file may still record (repeats do not count there).
_SCAN_FACTOR = 5


def decode_file_text(data: bytes) -> str:
    """A text file's characters: UTF-16 with a BOM, UTF-8 (BOM or not), else Windows-1252."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _labelled(context: str, defanged: bool) -> str:
    return f"{context}_defanged" if defanged else context


def add_reference(ctx: ScanContext, raw: str, context: str, *, if_new: bool = False) -> None:
    """Record one link target (a PDF URI action, a relationship target, a shortcut's URL).

    A UNC path (``\\\\host\\share``) is recorded as the ``file:`` URL Windows opens over SMB;
    a value with an unknown scheme is searched for the URLs it wraps (``mhtml:http://x!...``,
    ``ms-word:ofe|u|http://x``); a value without a scheme is no link. ``if_new``: only a URL no
    other place of the file gave."""
    raw = raw.strip()
    if not raw:
        return
    value = "file:" + raw.replace("\\", "/") if raw.startswith("\\\\") else raw
    n = normalize_url(value) if HAS_SCHEME.match(value) else None
    if n is None:
        add_text(ctx, raw, context, schemes_only=True, if_new=if_new)
    else:
        ctx.add_url(n.url, _labelled(context, n.defanged), if_new=if_new)


def add_text(
    ctx: ScanContext, text: str, context: str, *, schemes_only: bool = False, if_new: bool = False
) -> None:
    """Record the URLs typed in ``text`` (bare hosts with a real public suffix too, unless
    ``schemes_only``: then only ``http(s)``/``ftp`` URLs, XML namespaces left out). ``if_new``:
    only URLs no other place of the file gave."""
    if not text or not ctx.urls_left():
        return
    found = text_urls(
        text[: ctx.limits.max_text_chars], schemes_only=schemes_only, limit=_SCAN_FACTOR * ctx.limits.max_urls
    )
    for raw, n in found:
        if schemes_only and raw.startswith(_NAMESPACE_PREFIXES):
            continue
        ctx.add_url(n.url, _labelled(context, n.defanged), if_new=if_new)
        if not ctx.urls_left():
            break


def add_strings(ctx: ScanContext, data: bytes) -> None:
    """Record the ``http(s)``/``ftp`` URLs of a binary file's strings (ASCII and UTF-16LE: LNK,
    legacy Office) that no other place of the file gave (``attachment_strings``)."""
    chunk = data[: ctx.limits.max_text_chars]
    add_text(ctx, chunk.decode("latin-1"), "attachment_strings", schemes_only=True, if_new=True)
    if b"h\x00t\x00t\x00p\x00" in chunk:
        utf16 = chunk.decode("utf-16-le", "ignore")
        add_text(ctx, utf16, "attachment_strings", schemes_only=True, if_new=True)


def add_html(ctx: ScanContext, markup: str) -> None:
    """Record the URLs of an HTML or SVG document as URL Protect reads a body: links with their
    text (``a_href``...), forms (``form_action``), frames, scripts and styles, meta refresh, then
    URLs typed in the visible text (``html_text``). A wrapped link is recorded as written."""
    if not ctx.urls_left():
        return
    for found in extract_html(
        markup[: ctx.limits.max_text_chars], ctx.name, max_urls=_SCAN_FACTOR * ctx.limits.max_urls
    ):
        ctx.add_url(found.wrapped_url or found.url, found.context, link_text=found.link_text)
        if not ctx.urls_left():
            return
