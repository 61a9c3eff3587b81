"""ISO 9660 / UDF disk images (pycdlib): list files and extract the small ones."""

from __future__ import annotations

import io
import struct

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from tap_core.attachments.context import ScanContext, Unparseable
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES


class IsoScanner(Scanner):
    name = "iso"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        iso = pycdlib.PyCdlib()
        try:
            iso.open_fp(io.BytesIO(data))
        except (PyCdlibException, OSError, ValueError, IndexError, struct.error) as exc:
            raise Unparseable(str(exc)) from exc
        try:
            # Prefer the namespace with the real (long) names that Windows shows the user.
            if iso.has_udf():
                facade = "udf_path"
            elif iso.has_joliet():
                facade = "joliet_path"
            elif iso.has_rock_ridge():
                facade = "rr_path"
            else:
                facade = "iso_path"
            for root, _dirs, files in iso.walk(**{facade: "/"}):
                for filename in files:
                    ctx.check_time()
                    path = f"{root.rstrip('/')}/{filename}"
                    member = path.lstrip("/").removesuffix(";1")
                    if ctx.budget.files_left <= 0 or ctx.depth + 1 > ctx.limits.max_depth:
                        ctx.can_extract(member)
                        return
                    record = iso.get_record(**{facade: path})
                    size = int(record.get_data_length())
                    if not ctx.can_extract(member, size, None):
                        continue
                    out = io.BytesIO()
                    iso.get_file_from_iso_fp(out, **{facade: path})
                    ctx.add_child(member, out.getvalue())
        finally:
            iso.close()
