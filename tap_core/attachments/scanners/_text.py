"""Small text helpers shared by scanners: URL extraction."""

from __future__ import annotations

import re

from tap_core.attachments.context import ScanContext

URL_RE = re.compile(r"""\b(?:https?|ftp)://[^\s"'<>()\[\]{}\\^`|]{2,2048}""", re.I)
# XML namespaces and DTDs: identifiers in every Office/SVG/plist file, never visited by anyone.
_NAMESPACE = re.compile(
    r"https?://(schemas\.openxmlformats\.org|schemas\.microsoft\.com|www\.w3\.org|purl\.org|ns\.adobe\.com|"
    r"schemas\.xmlsoap\.org|www\.apple\.com/DTDs|openoffice\.org/\d{4})/",
    re.I,
)
_TRAILING = ".,;:!?'\")]}>"


def add_urls(text: str, ctx: ScanContext, limit: int = 200) -> list[str]:
    """Add the absolute URLs found in ``text`` to the context; returns them."""
    found: list[str] = []
    for match in URL_RE.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if _NAMESPACE.match(url):
            continue
        if url not in found:
            found.append(url)
            ctx.add_url(url)
            if len(found) >= limit:
                break
    return found
