"""RTF: embedded OLE objects and packages (rtfobj) become children; exploit markers are findings."""

from __future__ import annotations

import logging
import re

from oletools import rtfobj

from tap_core.attachments.context import ScanContext
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

logging.getLogger("rtfobj").setLevel(logging.CRITICAL)

_OBJUPDATE = re.compile(rb"\\objupdate", re.I)
_EQUATION = re.compile(r"equation", re.I)


class RtfScanner(Scanner):
    name = "rtf"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        parser = rtfobj.RtfObjParser(data)
        parser.parse()
        objects = parser.objects
        if not objects:
            return
        ctx.add("rtf_object", f"{len(objects)} objects")
        if _OBJUPDATE.search(data):
            ctx.add("rtf_objupdate", "\\objupdate")
        for index, obj in enumerate(objects):
            ctx.check_time()
            class_name = _text(getattr(obj, "class_name", b""))
            if obj.is_package:
                name = _text(obj.filename) or f"package-{index}"
                ctx.add("ole_package", name)
                ctx.add_child(name, bytes(obj.olepkgdata or b""))
            elif obj.is_ole and obj.oledata:
                if _EQUATION.search(class_name):
                    ctx.add("ole_equation_editor", class_name)
                ctx.add_child(f"object-{index}-{class_name or 'ole'}.bin", bytes(obj.oledata))
            elif obj.rawdata:
                ctx.add_child(f"object-{index}.bin", bytes(obj.rawdata))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\x00 ")
    return str(value or "").strip("\x00 ")
