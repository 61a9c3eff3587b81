"""OLE2 compound files (doc, xls, ppt, msg...): embedded objects, Equation Editor, DDE, mail parts."""

from __future__ import annotations

import io
import logging

import olefile
from oletools import msodde, oleobj

from tap_core.attachments.context import ScanContext, Unparseable
from tap_core.attachments.scanners._urls import add_html, add_text, decode_file_text
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

logging.getLogger("msodde").setLevel(logging.CRITICAL)
logging.getLogger("oleobj").setLevel(logging.CRITICAL)

#: Equation Editor 3.0 (CVE-2017-11882 / CVE-2018-0802): no legitimate mail needs it.
EQUATION_CLSIDS = frozenset({"0002CE02-0000-0000-C000-000000000046", "0002CE03-0000-0000-C000-000000000046"})
_MSG_TEXT_STREAMS = ("__substg1.0_1000001F", "__substg1.0_1000001E")
_MSG_HTML_STREAM = "__substg1.0_10130102"


class OleScanner(Scanner):
    name = "ole"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        try:
            ole = olefile.OleFileIO(io.BytesIO(data))
        except (OSError, ValueError, IndexError) as exc:
            raise Unparseable(str(exc)) from exc
        try:
            self._equation_editor(ole, ctx)
            self._embedded(ole, ctx)
            if ctx.kind.type == "doc":
                links = msodde.process_doc(ole)
                if links.strip():
                    ctx.add("dde_link", links.strip()[:300])
                    ctx.add_text("dde fields", links)
            if ctx.kind.type == "msg":
                self._msg(ole, ctx)
        finally:
            ole.close()

    @staticmethod
    def _equation_editor(ole: olefile.OleFileIO, ctx: ScanContext) -> None:
        # types-olefile leaves out OleFileIO.direntries, which olefile sets when it loads the directory.
        for entry in ole.direntries:  # type: ignore[attr-defined]
            if entry is not None and (entry.clsid or "").upper() in EQUATION_CLSIDS:
                ctx.add("ole_equation_editor", entry.name)
                return

    @staticmethod
    def _embedded(ole: olefile.OleFileIO, ctx: ScanContext) -> None:
        for path in ole.listdir(streams=True, storages=False):
            ctx.check_time()
            leaf = path[-1]
            if leaf.lower() not in ("\x01ole10native", "package", "contents"):
                continue
            size = ole.get_size(path)
            if not ctx.can_extract("/".join(path), size, None):
                continue
            raw = ole.openstream(path).read(ctx.extract_cap + 1)
            if leaf.lower() == "\x01ole10native":
                native = oleobj.OleNativeStream(bindata=raw)
                name = native.filename or native.src_path or "ole10native.bin"
                payload = bytes(native.data or b"")
                ctx.add("ole_package", str(name)[:200])
                ctx.add_child(str(name), payload)
            else:
                ctx.add_child("/".join(path[-2:]), raw)

    @staticmethod
    def _msg(ole: olefile.OleFileIO, ctx: ScanContext) -> None:
        for stream in (*_MSG_TEXT_STREAMS, _MSG_HTML_STREAM):
            if ole.exists(stream) and ole.get_size(stream) < 8 * 1024 * 1024:
                raw = ole.openstream(stream).read()
                if stream == _MSG_HTML_STREAM:
                    add_html(ctx, decode_file_text(raw))
                else:
                    text = (
                        raw.decode("utf-16-le", "replace") if stream.endswith("1F") else raw.decode("latin-1")
                    )
                    add_text(ctx, text, "message_text")
        storages = {
            path[0] for path in ole.listdir(streams=True) if path[0].startswith("__attach_version1.0_")
        }
        for storage in sorted(storages):
            ctx.check_time()
            data_path = f"{storage}/__substg1.0_37010102"
            if not ole.exists(data_path):
                continue
            name = storage
            for name_stream in ("__substg1.0_3707001F", "__substg1.0_3704001F"):
                if ole.exists(f"{storage}/{name_stream}"):
                    name = (
                        ole.openstream(f"{storage}/{name_stream}").read(2048).decode("utf-16-le", "replace")
                    )
                    name = name.rstrip("\x00") or storage
                    break
            size = ole.get_size(data_path)
            if ctx.can_extract(name, size, None):
                ctx.add_child(name, ole.openstream(data_path).read())
