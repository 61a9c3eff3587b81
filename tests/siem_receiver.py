"""A Logs Ingestion API on loopback that checks each request as Azure would, and the managed
identity token endpoint the app gets its token from (App Service's ``IDENTITY_ENDPOINT``, which
azure-identity's ``ManagedIdentityCredential`` calls).

Ingestion: ``POST /dataCollectionRules/<immutable id>/streams/<stream>?api-version=2023-01-01``
with ``Authorization: Bearer <a token this endpoint issued for https://monitor.azure.com>``,
``Content-Type: application/json``, optionally ``Content-Encoding: gzip``, at most 1 MB, a JSON
array of objects. Answers as Azure does: 204 taken; 401 bad token; 404 unknown rule; 400 unknown
stream, bad body or a row with a column the stream does not declare; 413 over 1 MB. While
``down`` it answers 503 (``down_after`` batches: goes down after taking that many). Rows are
kept by ``EventId``; ``duplicates`` counts rows whose id was already taken."""

from __future__ import annotations

import gzip
import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1024 * 1024
RESOURCE = "https://monitor.azure.com"


@dataclass
class SiemReceiver:
    dcr_id: str
    stream: str
    columns: dict[str, str]
    url: str = ""
    identity_endpoint: str = ""
    identity_header: str = field(default_factory=lambda: secrets.token_hex(8))
    tokens: set[str] = field(default_factory=set)
    down: bool = False
    down_after: int | None = None
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    batches: list[int] = field(default_factory=list)  # rows per taken batch
    body_sizes: list[int] = field(default_factory=list)  # uncompressed bytes per taken batch
    refused: list[tuple[int, str]] = field(default_factory=list)
    token_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> tuple[int, str]:
        if query.get("api-version") != ["2023-01-01"]:
            return 400, "api-version must be 2023-01-01"
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return 401, "invalid token"
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "dataCollectionRules" or parts[2] != "streams":
            return 404, "not found"
        if parts[1] != self.dcr_id:
            return 404, "data collection rule not found"
        if parts[3] != self.stream:
            return 400, f"stream {parts[3]} is not declared in the rule"
        if not headers.get("content-type", "").startswith("application/json"):
            return 415, "content type must be application/json"
        if len(body) > MAX_BODY:
            return 413, "over 1 MB"
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
            if len(body) > MAX_BODY:
                return 413, "over 1 MB uncompressed"
        try:
            rows = json.loads(body)
        except ValueError:
            return 400, "body is not JSON"
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return 400, "body must be a JSON array of objects"
        for row in rows:
            if unknown := set(row) - set(self.columns):
                return 400, f"columns not in the stream: {sorted(unknown)}"
            try:
                datetime.fromisoformat(str(row.get("TimeGenerated", "")).replace("Z", "+00:00"))
            except ValueError:
                return 400, "TimeGenerated is not a date"
        with self.lock:
            if self.down or (self.down_after is not None and len(self.batches) >= self.down_after):
                return 503, "service unavailable"
            for row in rows:
                if row.get("EventId") in self.rows:
                    self.duplicates += 1
                self.rows[str(row.get("EventId"))] = row
            self.batches.append(len(rows))
            self.body_sizes.append(len(body))
        return 204, ""

    def issue(self, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if headers.get("x-identity-header") != self.identity_header:
            return 401, {"error": "bad identity header"}
        if query.get("resource") != [RESOURCE]:
            return 400, {"error": f"resource {query.get('resource')} not offered"}
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
            self.token_requests += 1
        return 200, {"access_token": token, "expires_on": str(int(time.time()) + 3600), "resource": RESOURCE,
                     "token_type": "Bearer"}


@contextmanager
def siem_receiver(dcr_id: str, stream: str, columns: dict[str, str]) -> Iterator[SiemReceiver]:
    state = SiemReceiver(dcr_id, stream, columns)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            split = urlsplit(self.path)
            if split.path != "/msi/token":
                self._answer(404, b"{}")
                return
            status, data = state.issue(parse_qs(split.query), {k.lower(): v for k, v in self.headers.items()})
            self._answer(status, json.dumps(data).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            split = urlsplit(self.path)
            status, message = state.check(split.path, parse_qs(split.query),
                                          {k.lower(): v for k, v in self.headers.items()}, body)
            if status >= 300:
                state.refused.append((status, message))
            self._answer(status, json.dumps({"error": {"message": message}}).encode() if message else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    state.url, state.identity_endpoint = base, f"{base}/msi/token"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
