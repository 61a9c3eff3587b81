from __future__ import annotations

import hashlib
import os
import socket
import struct
import tempfile
import threading
from pathlib import Path

import pytest

from connectors.clamav import ClamdProvider, ClamscanProvider
from tap_core.attachments.antivirus import AntivirusError
from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.scanners import default_scanners
from tap_core.model.findings import Verdict
from tests.attachments.builders import EICAR, make_zip


@pytest.mark.skipif(not ClamscanProvider.available(), reason="clamscan is not installed")
def test_clamscan_with_a_custom_hash_database(tmp_path: Path) -> None:
    # A custom .hdb (md5:size:name) instead of a downloaded signature database.
    database = tmp_path / "test.hdb"
    database.write_text(
        f"{hashlib.md5(EICAR, usedforsecurity=False).hexdigest()}:{len(EICAR)}:Tap365.Test.EICAR\n"
    )
    provider = ClamscanProvider([database])
    assert provider.scan_bytes(b"harmless", timeout=30) == []
    engine = AttachmentEngine(scanners=default_scanners(antivirus=provider), cache_size=0)
    # clamscan opens the zip itself: the attachment is sent once, at depth 0.
    result = engine.scan("a.zip", make_zip({"e.com": EICAR}))
    hit = next(f for f in result.findings if f.name == "antivirus_detection")
    assert "Tap365.Test.EICAR" in hit.evidence and hit.verdict is Verdict.MALICIOUS


def test_clamscan_missing_binary_is_an_error_not_a_crash() -> None:
    provider = ClamscanProvider(clamscan="/nonexistent/clamscan")
    with pytest.raises(AntivirusError):
        provider.scan_bytes(b"x", timeout=5)
    result = AttachmentEngine(scanners=default_scanners(antivirus=provider), cache_size=0).scan("x.txt", b"x")
    assert "scanner_error" in result.reasons


def test_clamd_instream_protocol() -> None:
    received: list[bytes] = []
    directory = tempfile.mkdtemp(prefix="clamd")
    path = os.path.join(directory, "clamd.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            command = connection.recv(10)
            assert command == b"zINSTREAM\0"
            data = b""
            while True:
                size = struct.unpack(">I", _exact(connection, 4))[0]
                if size == 0:
                    break
                data += _exact(connection, size)
            received.append(data)
            reply = b"stream: Eicar-Signature FOUND\0" if b"EICAR" in data else b"stream: OK\0"
            connection.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert ClamdProvider(path).scan_bytes(EICAR * 2000, timeout=5) == ["Eicar-Signature"]
    finally:
        thread.join(timeout=5)
        server.close()
        os.unlink(path)
        os.rmdir(directory)
    assert received == [EICAR * 2000]


def _exact(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data
