"""The URLs of files no other scanner reads links from: calendars, shortcuts, text, raw strings.

Runs after the scanners that read a file's structure (PDF, Office, HTML, mail), so that its raw
strings scan only adds URLs they did not place:

* iCalendar (``ics``): URL-valued properties (URL, ATTACH, CONFERENCE...), HTML descriptions
  (``X-ALT-DESC;FMTTYPE=text/html``) as HTML, other text values as text; not the participants;
* Internet shortcuts (``url_shortcut``): ``URL=`` and ``IconFile=`` (a UNC icon leaks
  credentials), ``.webloc`` property lists: their ``URL``;
* text and CSV (``attachment_text``): every URL typed, bare hosts with a real suffix too;
* everything else but images, archives and disk images (``attachment_strings``): explicit
  ``http(s)``/``ftp`` URLs of the raw bytes, ASCII and UTF-16, XML namespaces left out.
"""

from __future__ import annotations

import html
import re

from tap_core.attachments.context import ScanContext
from tap_core.attachments.filetype import extension
from tap_core.attachments.scanners._urls import (
    HAS_SCHEME,
    add_html,
    add_reference,
    add_strings,
    add_text,
    decode_file_text,
)
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

#: Types whose own scanner reads their links and text (PDF, Office packages, HTML, SVG).
_READ_ELSEWHERE = SCANNER_TYPES["pdf"] | SCANNER_TYPES["ooxml"] | SCANNER_TYPES["html"]
#: Families whose raw bytes carry no URL worth reading (compressed or pixels); their members and
#: decoded images are scanned as children.
_NO_STRINGS_FAMILIES = frozenset({"image", "archive", "disk_image"})
_TEXT_TYPES = frozenset({"text", "csv"})
# One attempt per line, each scanning only its own line: "^\s*" would run over every blank line
# that follows from each line start ("[InternetShortcut]" + 51,200 newlines: 79 s).
_URL_FILE = re.compile(
    r"^[^\S\n]*+(?:URL|IconFile)[^\S\n]*+=\s*+(\S(?:[^\n]*\S)?)", re.IGNORECASE | re.MULTILINE
)
_WEBLOC = re.compile(r"<key>\s*URL\s*</key>\s*<string>([^<]+)</string>", re.IGNORECASE)
_ICS_URL_PROPS = frozenset({"URL", "ATTACH", "TZURL", "SOURCE", "CONFERENCE", "IMAGE"})
_ICS_SKIP_PROPS = frozenset(
    {
        "PRODID",
        "VERSION",
        "DTSTART",
        "DTEND",
        "DTSTAMP",
        "UID",
        "SEQUENCE",
        "RRULE",
        "CREATED",
        "LAST-MODIFIED",
        "STATUS",
        "TRANSP",
        "PRIORITY",
        "CLASS",
    }
)


class UrlScanner(Scanner):
    name = "urls"

    def applies(self, ctx: ScanContext) -> bool:
        kind = ctx.kind
        return (
            kind.type not in _READ_ELSEWHERE
            and kind.family not in _NO_STRINGS_FAMILIES
            and kind.type != "empty"
        )

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        kind, ext = ctx.kind.type, extension(ctx.name)
        textual = ctx.kind.family == "text"
        head = data[: ctx.limits.max_text_chars]
        if kind == "ics" or (textual and ext == "ics"):
            _calendar(decode_file_text(head), ctx)  # folded lines: no raw strings scan
            return
        if kind == "url_shortcut" or (textual and ext == "url"):
            for value in _URL_FILE.findall(decode_file_text(head)):
                add_reference(ctx, html.unescape(value), "url_shortcut")
        elif ext == "webloc" or (kind == "xml" and b"<plist" in data[:4096]):
            for value in _WEBLOC.findall(decode_file_text(head)):
                add_reference(ctx, html.unescape(value), "url_shortcut")
        if kind in _TEXT_TYPES:
            add_text(ctx, decode_file_text(head), "attachment_text", if_new=True)
        else:
            add_strings(ctx, data)


def _calendar(text: str, ctx: ScanContext) -> None:
    from icalendar import Calendar  # 30 ms of imports, for calendars only

    try:
        calendar = Calendar.from_ical(text)
    except Exception:
        # Unparseable: unfold the lines and read it as text.
        unfolded = re.sub(r"\r?\n[ \t]", "", text)
        add_text(ctx, unfolded.replace("\\n", "\n").replace("\\,", ",").replace("\\;", ";"), "ics")
        return
    for component in calendar.walk():
        for prop, value in component.items():
            for item in value if isinstance(value, list) else [value]:
                ctx.check_time()
                _calendar_value(prop.upper(), item, ctx)


def _calendar_value(prop: str, value: object, ctx: ScanContext) -> None:
    if prop in _ICS_SKIP_PROPS or prop in ("ORGANIZER", "ATTENDEE"):
        return  # dates and identifiers; the mailto: of the participants are no links
    text = str(value)
    params = getattr(value, "params", {}) or {}
    if prop in _ICS_URL_PROPS and HAS_SCHEME.match(text.strip()):
        add_reference(ctx, text, "ics")
    elif "html" in str(params.get("FMTTYPE", "")).lower():
        add_html(ctx, text)
    else:
        add_text(ctx, text, "ics")
