"""7-Zip archives, extracted in memory through py7zr's writer factory (bounded, deadline-checked)."""

from __future__ import annotations

import io

import py7zr
import py7zr.exceptions
from py7zr.io import Py7zIO, WriterFactory

from tap_core.attachments.context import ScanContext, ScanTimeout, Unparseable
from tap_core.attachments.scanners._archive import candidate_passwords, closed_archive, opened_with_password
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES


class _CappedIO(Py7zIO):
    """An in-memory member that keeps at most ``cap`` bytes and checks the deadline on each write."""

    def __init__(self, ctx: ScanContext, cap: int) -> None:
        self.ctx = ctx
        self.cap = cap
        self.buffer = io.BytesIO()
        self.overflow = False

    def write(self, s: bytes | bytearray) -> int:
        self.ctx.check_time()
        room = self.cap - self.buffer.tell()
        if len(s) > room:
            self.overflow = True
            s = s[: max(0, room)]
        return self.buffer.write(s) if s else 0

    def read(self, size: int | None = None) -> bytes:
        return self.buffer.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buffer.seek(offset, whence)

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.buffer.getbuffer().nbytes


class _Factory(WriterFactory):
    def __init__(self, ctx: ScanContext, cap: int) -> None:
        self.ctx = ctx
        self.cap = cap
        self.products: dict[str, _CappedIO] = {}

    def create(self, filename: str) -> Py7zIO:
        product = _CappedIO(self.ctx, self.cap)
        self.products[filename] = product
        return product


_WRONG_PASSWORD = (
    py7zr.exceptions.PasswordRequired,
    py7zr.exceptions.Bad7zFile,
    py7zr.exceptions.CrcError,
    OSError,
    ValueError,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
)


class SevenZipScanner(Scanner):
    name = "7z"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        listing = self._listing(data, None)
        if listing is None:
            # Encrypted headers: the member list itself needs the password.
            for candidate in candidate_passwords(ctx):
                ctx.check_time()
                listing = self._listing(data, candidate)
                if listing is not None and self._extract(data, candidate, listing, ctx):
                    opened_with_password(ctx, "7z", candidate)
                    return
            closed_archive(ctx, "7z (encrypted names)", [])
            return
        if not listing[1]:
            self._extract(data, None, listing, ctx, strict=False)
            return
        for candidate in candidate_passwords(ctx):
            ctx.check_time()
            if self._extract(data, candidate, listing, ctx):
                opened_with_password(ctx, "7z", candidate)
                return
        closed_archive(ctx, "7z", [name for name, _ in listing[0]])

    @staticmethod
    def _listing(data: bytes, password: str | None) -> tuple[list[tuple[str, int]], bool] | None:
        """(members with sizes, needs a password), None when the headers cannot be read."""
        try:
            with py7zr.SevenZipFile(io.BytesIO(data), mode="r", password=password) as archive:
                members = [
                    (f.filename, int(f.uncompressed or 0)) for f in archive.list() if not f.is_directory
                ]
                return members, bool(archive.needs_password())
        except py7zr.exceptions.PasswordRequired:
            return None
        except _WRONG_PASSWORD as exc:
            if password is None and "password" in str(exc).lower():
                return None
            if password is None:
                raise Unparseable(f"{type(exc).__name__}: {exc}") from exc
            return None

    @staticmethod
    def _extract(
        data: bytes,
        password: str | None,
        listing: tuple[list[tuple[str, int]], bool],
        ctx: ScanContext,
        strict: bool = True,
    ) -> bool:
        """Extract the allowed members; False when the password was wrong (nothing added)."""
        members = listing[0]
        total = sum(size for _, size in members)
        allowed = [name for name, size in members if ctx.can_extract(name, size, None)]
        if (
            members
            and total >= ctx.limits.ratio_min_bytes
            and total / max(1, len(data)) > ctx.limits.max_ratio
        ):
            ctx.limit("limit_ratio", f"{len(data)} -> {total} bytes", ratio=total // max(1, len(data)))
            return True
        if not allowed:
            return True
        factory = _Factory(ctx, ctx.extract_cap)
        try:
            with py7zr.SevenZipFile(io.BytesIO(data), mode="r", password=password) as archive:
                archive.extract(targets=allowed, factory=factory)
        except ScanTimeout:
            raise
        except Exception as exc:  # a wrong key fails in the decompressor, in many ways
            if strict or password is not None:
                return False
            raise Unparseable(f"{type(exc).__name__}: {exc}") from exc
        decrypted = password is not None
        for name, product in factory.products.items():
            if product.overflow:
                ctx.limit("limit_file_size", name, variant="left_7z")
                continue
            ctx.add_child(name, product.buffer.getvalue(), decrypted=decrypted)
        return True
