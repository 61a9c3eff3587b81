"""RAR archives: member names through rarfile's pure-Python header parser; stored members read.

Decompressing RAR needs an external unrar tool, which tap_core does not run: compressed members
are judged by name and the archive is marked ``container_not_extracted`` for the policy.
"""

from __future__ import annotations

import io

import rarfile

from tap_core.attachments.context import ScanContext, Unparseable
from tap_core.attachments.scanners._archive import closed_archive, unopened_member_findings
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES


class RarScanner(Scanner):
    name = "rar"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        try:
            archive = rarfile.RarFile(io.BytesIO(data))
        except rarfile.PasswordRequired:
            closed_archive(ctx, "RAR (encrypted names)", [])
            return
        except (rarfile.Error, OSError, ValueError, EOFError) as exc:
            raise Unparseable(str(exc)) from exc
        with archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            encrypted = [info.filename for info in members if info.needs_password()]
            unopened: list[str] = []
            for info in members:
                ctx.check_time()
                if info.needs_password():
                    continue
                if info.compress_type != rarfile.RAR_M0:
                    unopened.append(info.filename)
                    continue
                if ctx.can_extract(info.filename, info.file_size, info.compress_size):
                    try:
                        ctx.add_child(info.filename, archive.read(info))
                    except (rarfile.Error, OSError) as exc:
                        ctx.errors.append(f"rar: {info.filename}: {exc}"[:300])
                        unopened.append(info.filename)
            if encrypted:
                closed_archive(ctx, "RAR", encrypted)
            if unopened:
                ctx.add("container_not_extracted", ", ".join(unopened[:5]), variant="rar")
                unopened_member_findings(ctx, unopened)
