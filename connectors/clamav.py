"""ClamAV as an optional antivirus provider for Attachment Protect (the I/O side of the interface).

Two ways in, both implementing ``tap_core.attachments.antivirus.AntivirusProvider``:
- :class:`ClamdProvider`: a running clamd over its unix socket (``INSTREAM``): fast, databases
  loaded once. The one to use in production.
- :class:`ClamscanProvider`: runs ``clamscan`` per file with the given databases (``-d``), the
  bytes on stdin, nothing written to disk. Loading a full database takes seconds per call, so it
  suits custom databases (``.hdb``/``.hsb``/``.ndb``/``.yar``) and tests.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
from collections.abc import Sequence

from tap_core.attachments.antivirus import AntivirusError

_FOUND = re.compile(r"^(?:stdin|stream):\s*(.+?)\s+FOUND\s*$", re.M)


class ClamscanProvider:
    """``clamscan -`` with custom databases; raises :class:`AntivirusError` when it cannot answer."""

    name = "clamav"

    def __init__(self, databases: Sequence[str | os.PathLike[str]] = (), clamscan: str = "clamscan") -> None:
        self.databases = [os.fspath(db) for db in databases]
        self.clamscan = clamscan

    @staticmethod
    def available(clamscan: str = "clamscan") -> bool:
        return shutil.which(clamscan) is not None

    def scan_bytes(self, data: bytes, timeout: float) -> list[str]:
        command = [self.clamscan, "--no-summary", "--stdout"]
        for database in self.databases:
            command += ["-d", database]
        command.append("-")
        try:
            done = subprocess.run(command, input=data, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AntivirusError(f"clamscan did not run: {exc}") from exc
        output = done.stdout.decode("utf-8", "replace")
        if done.returncode == 0:
            return []
        if done.returncode == 1:
            return _FOUND.findall(output) or ["unnamed detection"]
        error = done.stderr.decode("utf-8", "replace").strip() or output.strip()
        raise AntivirusError(f"clamscan exit {done.returncode}: {error[:300]}")


class ClamdProvider:
    """clamd's ``INSTREAM`` command over a unix socket."""

    name = "clamav"
    chunk_size = 64 * 1024

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    def scan_bytes(self, data: bytes, timeout: float) -> list[str]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(self.socket_path)
                sock.sendall(b"zINSTREAM\0")
                for start in range(0, len(data), self.chunk_size):
                    chunk = data[start : start + self.chunk_size]
                    sock.sendall(struct.pack(">I", len(chunk)) + chunk)
                sock.sendall(struct.pack(">I", 0))
                reply = _read_reply(sock)
        except OSError as exc:
            raise AntivirusError(f"clamd at {self.socket_path}: {exc}") from exc
        if reply.endswith("ERROR"):
            raise AntivirusError(f"clamd: {reply[:300]}")
        return _FOUND.findall(reply)


def _read_reply(sock: socket.socket) -> str:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\0"):
            break
    return b"".join(chunks).rstrip(b"\0").decode("utf-8", "replace").strip()
