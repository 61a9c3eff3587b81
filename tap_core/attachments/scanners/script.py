"""Script files (JS, VBS, WSF, HTA, PowerShell, batch): obfuscation, encoded commands, their URLs.

The URLs a script spells out are found by the raw strings scan (:mod:`~tap_core.attachments.scanners.urls`);
those of encoded commands only once decoded, here (``decoded_payload``).
"""

from __future__ import annotations

import base64
import binascii
import re

from tap_core.attachments.context import ScanContext
from tap_core.attachments.filetype import extension, identify
from tap_core.attachments.scanners._urls import add_text
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

_TEXT_CAP = 8 * 1024 * 1024
_SCRIPT_EXTENSIONS = frozenset(
    {"js", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "ps1", "psm1", "bat", "cmd", "sct"}
)
_ENCODED = re.compile(r"\s-e(?:c|nc|nco|ncod|ncode|ncoded|ncodedcommand)?\s+([A-Za-z0-9+/]{20,}={0,2})", re.I)
_FROM_BASE64 = re.compile(r"FromBase64String\s*\(\s*[\"']([A-Za-z0-9+/=]{24,})[\"']", re.I)
_OBFUSCATION = {
    "char codes": (re.compile(r"\bchrw?\s*\(|fromCharCode|\[char\]\s*\d", re.I), 15),
    "string splicing": (re.compile(r"[\"']\s*[+&]\s*[\"']"), 40),
    "caret escaping": (re.compile(r"\w\^\w"), 20),
    "variable substrings": (re.compile(r"%\w+:~-?\d+(,-?\d+)?%"), 5),
    "replace chains": (re.compile(r"\.replace\s*\(", re.I), 8),
    "eval": (re.compile(r"\beval\s*\(|\bexecute(global)?\b|\binvoke-expression\b|\biex\b", re.I), 2),
    "long base64": (re.compile(r"[A-Za-z0-9+/]{200,}={0,2}"), 1),
}


class ScriptScanner(Scanner):
    name = "script"
    types = SCANNER_TYPES[name]

    def applies(self, ctx: ScanContext) -> bool:
        # Windows picks the interpreter by extension: a .ps1 that reads as plain text still runs.
        return super().applies(ctx) or (ctx.kind.type == "text" and extension(ctx.name) in _SCRIPT_EXTENSIONS)

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        text = _decode(data[:_TEXT_CAP])
        inspect_script_text(text, ctx)


def inspect_script_text(text: str, ctx: ScanContext) -> None:
    """Obfuscation markers and decoded payloads (with their URLs) of a script or command line."""
    markers = [
        name for name, (pattern, needed) in _OBFUSCATION.items() if len(pattern.findall(text)) >= needed
    ]
    longest = max((len(line) for line in text.splitlines()), default=0)
    if longest > 4000 and text.count(" ") < len(text) / 50:
        markers.append("dense long lines")
    if len(markers) >= 2:
        ctx.add("script_obfuscation", ", ".join(markers))
    for index, match in enumerate(_ENCODED.finditer(text)):
        if index >= 5:
            break
        decoded = _b64(match.group(1))
        if decoded:
            command = decoded.decode("utf-16-le", "replace")
            ctx.add_text("powershell encoded command", command)
            add_text(ctx, command, "decoded_payload", schemes_only=True, if_new=True)
            ctx.add_child(f"encoded-command-{index + 1}.ps1", command.encode("utf-8"))
    for index, match in enumerate(_FROM_BASE64.finditer(text)):
        if index >= 5:
            break
        decoded = _b64(match.group(1))
        if not decoded:
            continue
        if identify(decoded).type in ("text", "ps1", "js", "vbs", "bat", "html"):
            ctx.add_text("base64 literal", decoded)
        else:
            ctx.add_child(f"base64-literal-{index + 1}.bin", decoded)


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8", "replace")


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
