"""Single-stream compression (gzip, bzip2, xz): decompressed in bounded steps."""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib

from tap_core.attachments.context import ScanContext, Unparseable
from tap_core.attachments.filetype import extension
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

_STEP = 1024 * 1024


class CompressedScanner(Scanner):
    name = "compressed"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        ftype = ctx.kind.type
        cap = ctx.extract_cap
        member = _inner_name(ctx.name, ftype, data)
        if not ctx.can_extract(member):
            return
        try:
            content = self._gunzip(data, cap, ctx) if ftype == "gz" else self._stream(data, cap, ctx, ftype)
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            raise Unparseable(str(exc)) from exc
        if content is None:
            return
        ctx.add_child(member, content, packed=len(data))

    def _gunzip(self, data: bytes, cap: int, ctx: ScanContext) -> bytes | None:
        out = bytearray()
        rest = data
        while rest:
            decomp = zlib.decompressobj(wbits=31)
            chunk = rest
            while chunk:
                out += decomp.decompress(chunk, _STEP)
                chunk = decomp.unconsumed_tail
                if not self._within(len(out), len(data), cap, ctx):
                    return None
            rest = decomp.unused_data if decomp.eof else b""
            if rest and not rest.startswith(b"\x1f\x8b"):
                break  # trailing garbage after the last member
        return bytes(out)

    def _stream(self, data: bytes, cap: int, ctx: ScanContext, ftype: str) -> bytes | None:
        decomp: bz2.BZ2Decompressor | lzma.LZMADecompressor = (
            bz2.BZ2Decompressor() if ftype == "bz2" else lzma.LZMADecompressor()
        )
        out = bytearray(decomp.decompress(data, _STEP))
        while not decomp.eof and not (decomp.needs_input):
            if not self._within(len(out), len(data), cap, ctx):
                return None
            out += decomp.decompress(b"", _STEP)
        return bytes(out) if self._within(len(out), len(data), cap, ctx) else None

    @staticmethod
    def _within(size: int, packed: int, cap: int, ctx: ScanContext) -> bool:
        ctx.check_time()
        limits = ctx.limits
        if size >= limits.ratio_min_bytes and size / max(1, packed) > limits.max_ratio:
            ctx.limit(
                "limit_ratio", f"{packed} -> >{size} bytes", variant="over", ratio=int(limits.max_ratio)
            )
            return False
        if size > cap:
            ctx.limit("limit_file_size", f">{size} bytes", variant="decompressed", cap=cap)
            return False
        return True


def _inner_name(name: str, ftype: str, data: bytes) -> str:
    if ftype == "gz" and len(data) > 10 and data[3] & 0x08:
        # gzip FNAME: the original name, after the optional FEXTRA field.
        pos = 10
        if data[3] & 0x04 and len(data) > 12:
            pos += 2 + struct.unpack("<H", data[10:12])[0]
        end = data.find(b"\x00", pos, pos + 1024)
        if end > pos:
            return data[pos:end].decode("latin-1")
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    ext = extension(base)
    if ext in ("gz", "bz2", "xz", "tgz", "tbz2", "txz"):
        stem = base[: -len(ext) - 1]
        return stem + ".tar" if ext.startswith("t") else stem
    return base + ".out"
