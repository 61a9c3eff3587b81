"""Mail messages attached as files (.eml): their attachments become children, their links URLs."""

from __future__ import annotations

from tap_core.attachments.context import ScanContext
from tap_core.attachments.scanners._urls import add_html, add_text
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES
from tap_core.parsing.limits import limits_reached
from tap_core.parsing.mime import parse_eml


class EmlScanner(Scanner):
    name = "eml"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        message = parse_eml(data, source=ctx.name)
        for hit in limits_reached(message):  # what lies beyond it was not parsed: the file limit holds
            ctx.limit("limit_message_parse", hit.where, limit=hit.limit, limit_name=hit.name)
        if message.html_body:
            add_html(ctx, message.html_body)
        if message.text_body:
            add_text(ctx, message.text_body, "message_text")
        for attachment in message.attachments:
            ctx.check_time()
            if ctx.can_extract(attachment.name, len(attachment.data), None):
                ctx.add_child(attachment.name or "attachment", attachment.data)
