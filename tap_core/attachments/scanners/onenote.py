"""OneNote sections: files embedded as FileDataStoreObjects become children."""

from __future__ import annotations

import struct

from tap_core.attachments.context import ScanContext
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

# [MS-ONESTORE] 2.6.13 FileDataStoreObject: guidHeader, cbLength (u64), unused (u32), reserved (u64),
# FileData, guidFooter.
_STORE_HEADER = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
_MAX_OBJECTS = 100


class OneNoteScanner(Scanner):
    name = "onenote"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        pos = data.find(_STORE_HEADER)
        count = 0
        while pos >= 0 and count < _MAX_OBJECTS:
            ctx.check_time()
            if pos + 36 > len(data):
                break
            (length,) = struct.unpack_from("<Q", data, pos + 16)
            start = pos + 36
            if length and start + length <= len(data):
                count += 1
                if ctx.can_extract(f"embedded-{count}", length, None):
                    ctx.add_child(f"embedded-{count}", data[start : start + length])
                pos = data.find(_STORE_HEADER, start + length)
            else:
                pos = data.find(_STORE_HEADER, pos + 16)
        if count:
            ctx.add("onenote_embedded_file", f"{count} files")
