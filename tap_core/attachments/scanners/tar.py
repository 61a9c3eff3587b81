"""Uncompressed tar archives (compressed ones arrive here after the gz/bz2/xz scanner)."""

from __future__ import annotations

import io
import tarfile

from tap_core.attachments.context import ScanContext, Unparseable, read_capped
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES


class TarScanner(Scanner):
    name = "tar"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        try:
            archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
            raise Unparseable(str(exc)) from exc
        with archive:
            for member in archive:
                ctx.check_time()
                if not member.isfile():
                    continue
                if ctx.budget.files_left <= 0 or ctx.depth + 1 > ctx.limits.max_depth:
                    ctx.can_extract(member.name)
                    break
                if not ctx.can_extract(member.name, member.size, None):
                    continue
                stream = archive.extractfile(member)
                if stream is None:
                    continue
                content = read_capped(stream, ctx.extract_cap, ctx, member.name)
                if content is not None:
                    ctx.add_child(member.name, content)
