"""Encrypted Office documents (msoffcrypto-tool): decrypt with candidate passwords, scan the result."""

from __future__ import annotations

import io

import msoffcrypto
import msoffcrypto.exceptions

from tap_core.attachments.context import ScanContext
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

#: Excel's built-in password: a workbook "encrypted" with it opens without a prompt, which malware
#: uses to hide macros from scanners.
EXCEL_DEFAULT_PASSWORD = "VelvetSweatshop"  # noqa: S105 - a published constant, not a secret


class OfficeCryptoScanner(Scanner):
    name = "office_crypto"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        try:
            office = msoffcrypto.OfficeFile(io.BytesIO(data))
            encrypted = office.is_encrypted()
        except (msoffcrypto.exceptions.FileFormatError, OSError, ValueError, KeyError, IndexError, TypeError):
            if ctx.kind.type == "office_encrypted":
                raise
            return  # a plain OLE file msoffcrypto does not know
        if not encrypted:
            return
        candidates = list(dict.fromkeys([EXCEL_DEFAULT_PASSWORD, *ctx.passwords]))
        for password in candidates:
            ctx.check_time()
            try:
                office = msoffcrypto.OfficeFile(io.BytesIO(data))
                # No verify_password: it rejects valid keys of Standard encryption. A wrong key gives
                # garbage or an exception, so the decrypted bytes are checked for a real container.
                office.load_key(password=password)
                out = io.BytesIO()
                office.decrypt(out)
            except Exception:  # noqa: S112 - hostile input fails in many ways; skipping it is the intent
                continue
            if not out.getvalue().startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
                continue
            if password == EXCEL_DEFAULT_PASSWORD:
                ctx.add("office_default_password", EXCEL_DEFAULT_PASSWORD)
            else:
                ctx.add("decrypted_with_password", f"{len(password)} characters", variant="document")
            ctx.add_child(f"{ctx.name}.decrypted", out.getvalue(), decrypted=True)
            return
        ctx.add("encrypted_document", ctx.kind.type, kind="document")
