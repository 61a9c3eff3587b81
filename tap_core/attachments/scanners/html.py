"""HTML, HTA and SVG attachments: credential forms, redirects, obfuscated script, smuggled payloads.

Their URLs are read as URL Protect reads a body (links, forms, frames, meta refresh, visible
text: :func:`~tap_core.attachments.scanners._urls.add_html`); the URLs of scripts and of decoded
payloads are read from the raw text afterwards (``attachment_strings``, ``decoded_payload``).
"""

from __future__ import annotations

import base64
import binascii
import html
import re

from tap_core.attachments.context import ScanContext
from tap_core.attachments.filetype import FAMILIES, identify
from tap_core.attachments.scanners._urls import add_html, add_text, decode_file_text
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

_TEXT_CAP = 16 * 1024 * 1024
# A tag's scan stops at the next "<": "[^>]*" ran from every "<input" to the end of the file
# ("<input" * 10,000 without ">": quadratic).
_PASSWORD_INPUT = re.compile(r"<input\b[^<>]*\btype\s*=\s*[\"']?password", re.I)
_FORM_ACTION = re.compile(r"<form\b[^<>]*\baction\s*=\s*[\"']?\s*((?:https?:)?//[^\"'\s>]+)", re.I)
_EXFIL = re.compile(
    r"\bfetch\s*\(|XMLHttpRequest|\$\.(ajax|post)\s*\(|sendBeacon|api\.telegram\.org|"
    r"discord(app)?\.com/api/webhooks|formspree\.io|submit-form\.com",
    re.I,
)
_META_REFRESH = re.compile(
    r"<meta\b(?>[^<>]*?http-equiv\s*=\s*[\"']?refresh)[^<>]*content\s*=\s*[\"'][^\"'<]*?url\s*=\s*['\"]?([^\"'>\s]+)",
    re.I,
)
_JS_REDIRECT = re.compile(
    r"\b(?:window|document|top|self|parent)\s*\.\s*location(?:\s*\.\s*href)?\s*=|"
    r"\blocation\s*\.\s*(?:replace|assign)\s*\(|\blocation\.href\s*=",
    re.I,
)
_OBFUSCATION = {
    "atob": re.compile(r"\batob\s*\(", re.I),
    "unescape": re.compile(r"\bunescape\s*\(", re.I),
    "eval": re.compile(r"\beval\s*\(", re.I),
    "fromCharCode": re.compile(r"fromCharCode", re.I),
    "document.write": re.compile(r"document\s*\.\s*write(ln)?\s*\(", re.I),
    "decodeURIComponent": re.compile(r"decodeURIComponent\s*\(", re.I),
    "hex escapes": re.compile(r"(?:\\x[0-9a-f]{2}){40}", re.I),
    "Function constructor": re.compile(r"\bnew\s+Function\s*\(|\bFunction\s*\(\s*['\"]return", re.I),
}
_ATOB_LITERAL = re.compile(r"atob\s*\(\s*[\"']([A-Za-z0-9+/=\s]{16,})[\"']\s*\)", re.I)
_BASE64_BLOB = re.compile(r"(?:base64,|[\"'`])([A-Za-z0-9+/]{400,}={0,2})")
_MAX_BLOBS = 5


class HtmlScanner(Scanner):
    name = "html"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        add_html(ctx, decode_file_text(data[:_TEXT_CAP]))
        text = _decode(data[:_TEXT_CAP])
        self._forms(text, ctx)
        self._redirects(text, ctx)
        self._obfuscation(text, ctx)
        self._payloads(text, ctx)
        # URLs only scripts and attributes extract_html does not follow carry (redirect targets).
        add_text(ctx, html.unescape(text), "attachment_strings", schemes_only=True, if_new=True)

    @staticmethod
    def _forms(text: str, ctx: ScanContext) -> None:
        if not _PASSWORD_INPUT.search(text):
            return
        ctx.add("html_password_form", "input type=password")
        action = _FORM_ACTION.search(text)
        if action:
            ctx.add("html_form_offsite", html.unescape(action.group(1)))
        exfil = _EXFIL.search(text)
        if exfil:
            ctx.add("html_credential_exfil", exfil.group(0))

    @staticmethod
    def _redirects(text: str, ctx: ScanContext) -> None:
        meta = _META_REFRESH.search(text)
        if meta:
            ctx.add("html_meta_refresh", html.unescape(meta.group(1)))
        js = _JS_REDIRECT.search(text)
        if js:
            window = text[js.start() : js.end() + 300]
            ctx.add("html_js_redirect", " ".join(window.split())[:200])

    @staticmethod
    def _obfuscation(text: str, ctx: ScanContext) -> None:
        markers = [name for name, pattern in _OBFUSCATION.items() if pattern.search(text)]
        if len(markers) >= 2:
            ctx.add("html_obfuscated_js", ", ".join(markers))

    @staticmethod
    def _payloads(text: str, ctx: ScanContext) -> None:
        """Decode atob() literals and long base64 blobs: text goes to YARA, files become children."""
        count = 0
        for match in [*_ATOB_LITERAL.finditer(text), *_BASE64_BLOB.finditer(text)]:
            if count >= _MAX_BLOBS:
                break
            ctx.check_time()
            raw = _b64(match.group(1))
            if raw is None or len(raw) < 12:
                continue
            kind = identify(raw)
            family = FAMILIES.get(kind.type, "unknown")
            if family in ("text", "web", "script"):
                decoded = raw.decode("utf-8", "replace")
                ctx.add_text("decoded base64", decoded)
                add_text(ctx, decoded, "decoded_payload", schemes_only=True, if_new=True)
                if (family in ("web", "script") or kind.type == "js") and len(raw) >= 64:
                    count += 1
                    ctx.add_child(f"decoded-{count}.{kind.type}", raw)
            elif kind.type not in ("unknown", "empty", "png", "jpeg", "gif", "webp", "bmp"):
                count += 1
                ctx.add("html_embedded_file", f"{kind.type} ({len(raw)} bytes)")
                ctx.add_child(f"smuggled-{count}.{kind.type}", raw)


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8", "replace")


def _b64(value: str) -> bytes | None:
    value = re.sub(r"\s+", "", value)
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
