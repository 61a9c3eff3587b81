"""Mail messages attached as files (.eml): their attachments become children, their links URLs."""

from __future__ import annotations

from tap_core.attachments.context import ScanContext
from tap_core.attachments.scanners._text import add_urls
from tap_core.attachments.scanners.base import Scanner
from tap_core.parsing.mime import parse_eml


class EmlScanner(Scanner):
    name = "eml"
    types = frozenset({"eml"})

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        message = parse_eml(data, source=ctx.name)
        for body in (message.text_body, message.html_body):
            if body:
                add_urls(body, ctx)
        for attachment in message.attachments:
            ctx.check_time()
            if ctx.can_extract(attachment.name, len(attachment.data), None):
                ctx.add_child(attachment.name or "attachment", attachment.data)


class TextUrlScanner(Scanner):
    """Plain text and XML: the links they carry go to URL Protect."""

    name = "text_urls"
    types = frozenset({"text", "xml", "csv", "ics", "url_shortcut", "office_xml", "mobileconfig"})

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        add_urls(data[: 8 * 1024 * 1024].decode("utf-8", "replace"), ctx)
