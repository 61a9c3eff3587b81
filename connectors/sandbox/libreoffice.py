"""Office -> PDF with LibreOffice headless, for Safe File (``tap_core.attachments.safefile``).

Each conversion gets a throw-away profile and folder, a clean environment, resource limits and a
timeout. Headless conversion does not run document macros (LibreOffice's macro security stays at
its default, and the fresh profile trusts no location). The PDF is rasterised afterwards anyway.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tap_core.attachments.filetype import identify

#: Extension LibreOffice needs to pick its import filter, by our content type.
_OFFICE = ("doc", "docx", "docm", "xls", "xlsx", "xlsm", "xlsb", "ppt", "pptx", "pptm", "rtf")
_EXTENSIONS = {kind: f".{kind}" for kind in _OFFICE} | {"odf": ".odt"}


class OfficeConversionError(Exception):
    pass


def find_soffice() -> str | None:
    return os.environ.get("TAP365_SOFFICE") or shutil.which("soffice") or shutil.which("libreoffice")


class LibreOfficeConverter:
    """Implements ``tap_core.attachments.safefile.OfficeConverter``."""

    def __init__(self, soffice: str | None = None, memory_bytes: int = 4 * 1024**3) -> None:
        found = soffice or find_soffice()
        if not found:
            raise OfficeConversionError(
                "LibreOffice not found: apt-get install libreoffice-writer-nogui"
                " (Safe File falls back to a text rendering)"
            )
        self.soffice = found
        self.memory_bytes = memory_bytes

    def to_pdf(self, name: str, data: bytes, timeout_seconds: float) -> bytes:
        kind = identify(data).type
        extension = _EXTENSIONS.get(kind)
        if extension is None:
            raise OfficeConversionError(f"not an Office document LibreOffice should open: {kind}")
        with tempfile.TemporaryDirectory(prefix="tap365-lo-") as tmp:
            root = Path(tmp)
            source = root / f"document{extension}"  # never the sender's file name
            source.write_bytes(data)
            (root / "out").mkdir()
            command = [
                self.soffice, "--headless", "--norestore", "--nolockcheck", "--nodefault", "--nologo",
                f"-env:UserInstallation=file://{root / 'profile'}", "--convert-to", "pdf",
                "--outdir", str(root / "out"), str(source),
            ]  # fmt: skip
            env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8"}
            process = subprocess.Popen(
                command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True, preexec_fn=self._limits,
            )  # fmt: skip
            try:
                _, stderr = process.communicate(timeout=timeout_seconds)
            except subprocess.TimeoutExpired as exc:
                os.killpg(process.pid, signal.SIGKILL)  # soffice forks: the whole group we started
                process.wait(timeout=10)
                raise OfficeConversionError(f"LibreOffice took longer than {timeout_seconds:g} s") from exc
            output = root / "out" / "document.pdf"
            if not output.exists():
                tail = stderr.decode("utf-8", "replace")[-300:]
                raise OfficeConversionError(
                    f"LibreOffice produced no PDF (exit {process.returncode}): {tail}"
                )
            return output.read_bytes()

    def _limits(self) -> None:
        resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
