"""Microsoft Cabinet: member names from the CFFILE table (no decompressor in tap_core)."""

from __future__ import annotations

import struct

from tap_core.attachments.context import ScanContext, Unparseable
from tap_core.attachments.scanners._archive import unopened_member_findings
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES


def cab_member_names(data: bytes, limit: int = 10_000) -> list[str]:
    """Names listed in a cabinet's CFFILE entries."""
    if len(data) < 36:
        raise Unparseable("truncated CFHEADER")
    (files_offset,) = struct.unpack_from("<I", data, 16)
    (count,) = struct.unpack_from("<H", data, 28)
    names: list[str] = []
    pos = files_offset
    for _ in range(min(count, limit)):
        if pos + 16 > len(data):
            raise Unparseable("truncated CFFILE table")
        attribs = struct.unpack_from("<H", data, pos + 14)[0]
        end = data.find(b"\x00", pos + 16, pos + 16 + 512)
        if end < 0:
            raise Unparseable("unterminated CFFILE name")
        raw = data[pos + 16 : end]
        names.append(raw.decode("utf-8" if attribs & 0x80 else "latin-1", "replace"))
        pos = end + 1
    return names


class CabScanner(Scanner):
    name = "cab"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        names = cab_member_names(data)
        ctx.add("container_not_extracted", ", ".join(names[:5]), variant="cab")
        unopened_member_findings(ctx, names)


class UnopenedContainerScanner(Scanner):
    """Containers tap_core cannot open (raw disk images, zstd): say so for the policy."""

    name = "unopened"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        ctx.add("container_not_extracted", ctx.kind.type, kind=ctx.kind.detail or ctx.kind.type)
