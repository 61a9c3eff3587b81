"""ZIP archives, including ZipCrypto and AES encryption (pyzipper)."""

from __future__ import annotations

import io
import zipfile
import zlib

import pyzipper

from tap_core.attachments.context import ScanContext, Unparseable, read_capped
from tap_core.attachments.scanners._archive import candidate_passwords, closed_archive, opened_with_password
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES


class ZipScanner(Scanner):
    name = "zip"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        try:
            archive = pyzipper.AESZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, pyzipper.BadZipFile, ValueError, EOFError) as exc:
            raise Unparseable(str(exc)) from exc
        with archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            password: str | None = None
            closed: list[str] = []
            for info in members:
                ctx.check_time()
                if ctx.budget.files_left <= 0 or ctx.depth + 1 > ctx.limits.max_depth:
                    ctx.can_extract(info.filename)  # records the limit finding
                    break
                if not ctx.can_extract(info.filename, info.file_size, info.compress_size):
                    continue
                if not info.flag_bits & 0x1:
                    content = self._read(archive, info, None, ctx)
                    if content is not None:
                        ctx.add_child(info.filename, content, packed=info.compress_size)
                    continue
                tried = [password] if password is not None else candidate_passwords(ctx)
                for candidate in tried:
                    content = self._read(archive, info, candidate, ctx)
                    if content is not None:
                        if password is None:
                            opened_with_password(ctx, "ZIP", candidate)
                        password = candidate
                        ctx.add_child(info.filename, content, decrypted=True, packed=info.compress_size)
                        break
                else:
                    closed.append(info.filename)
            if closed:
                closed_archive(ctx, "ZIP", closed)

    @staticmethod
    def _read(
        archive: pyzipper.AESZipFile, info: zipfile.ZipInfo, password: str | None, ctx: ScanContext
    ) -> bytes | None:
        pwd = password.encode("utf-8") if password is not None else None
        try:
            with archive.open(info, pwd=pwd) as stream:
                return read_capped(stream, ctx.extract_cap, ctx, info.filename, packed=info.compress_size)
        except RuntimeError:  # wrong or missing password
            return None
        except (
            zipfile.BadZipFile,
            pyzipper.BadZipFile,
            zlib.error,
            NotImplementedError,
            EOFError,
            OSError,
            ValueError,
        ) as exc:
            if password is not None:
                return None  # a wrong ZipCrypto password can pass the check byte and fail the CRC
            ctx.add("unparseable_zip_member", f"{info.filename}: {exc}")
            return None
