"""Windows shortcuts (LnkParse3): what the shortcut runs, hidden arguments, remote targets."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import LnkParse3

from tap_core.attachments.context import ScanContext, Unparseable
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES
from tap_core.attachments.scanners.script import inspect_script_text

logging.getLogger("LnkParse3").setLevel(logging.CRITICAL)

_REMOTE = re.compile(r"\\\\[\w.-]+@?(ssl)?(@\d+)?\\|\b(https?|ftp)://|davwwwroot", re.I)
_PADDING = re.compile(r"\s{40,}")
_TARGET_KEYS = (
    "relative_path",
    "local_base_path",
    "common_path_suffix",
    "net_name",
    "target_unicode",
    "target_ansi",
    "working_directory",
)


class LnkScanner(Scanner):
    name = "lnk"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        try:
            parsed: dict[str, Any] = LnkParse3.lnk_file(indata=data).get_json()
        except Exception as exc:
            raise Unparseable(f"{type(exc).__name__}: {exc}") from exc
        fields = dict(_strings(parsed))
        target = next((fields[k] for k in _TARGET_KEYS if fields.get(k)), "")
        arguments = fields.get("command_line_arguments", "")
        command = f"{target} {arguments}".strip()
        if command:
            ctx.add_text("lnk command line", command)
        if len(arguments) > 256 or _PADDING.search(arguments):
            ctx.add("lnk_long_arguments", f"{len(arguments)} characters")
        if _REMOTE.search(command):
            ctx.add("lnk_remote_target", command[:200])
        style = str(parsed.get("header", {}).get("windowstyle", ""))
        if style in ("SW_SHOWMINNOACTIVE", "SW_HIDE", "SW_MINIMIZE", "SW_SHOWMINIMIZED"):
            ctx.add("lnk_hidden_window", style)
        if arguments:
            inspect_script_text(arguments, ctx)


def _strings(node: object, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for child_key, value in node.items():
            yield from _strings(value, str(child_key))
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)
    elif isinstance(node, str) and key:
        yield key, node.strip("\x00")
