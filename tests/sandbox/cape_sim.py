"""A small CAPEv2 API simulator: the documented ``/apiv2`` endpoints the client uses, token auth,
scripted status progression and fault injection. Test-only (starlette)."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DEFAULT_PROGRESSION = ["pending", "running", "completed", "reported"]


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """multipart/form-data -> (fields, files) with the standard library (no python-multipart)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[str(name)] = (filename, payload)
        elif name:
            fields[str(name)] = payload.decode("utf-8", "replace")
    return fields, files


@dataclass
class SimTask:
    task_id: int
    name: str
    sha256: str
    timeout: int
    progression: list[str]
    polls: int = 0

    @property
    def status(self) -> str:
        return self.progression[min(self.polls, len(self.progression) - 1)]


@dataclass
class CapeSimulator:
    #: ``None``: token auth off (CAPE's ``token_auth_enabled = no``); otherwise every request must
    #: carry ``Authorization: Token <token>`` (the service sends TAP365_SANDBOX_TOKEN).
    token: str | None = "sim-token"
    #: Status per poll (the last one repeats). ``["running"]`` never finishes.
    progression: list[str] = field(default_factory=lambda: list(DEFAULT_PROGRESSION))
    #: Report per sample sha256; ``default_report`` otherwise.
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_report: dict[str, Any] = field(default_factory=dict)
    #: Answer the next N requests with HTTP 500 / hang (seconds) for fault tests.
    fail_next: int = 0
    delay_seconds: float = 0.0
    tasks: dict[int, SimTask] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/apiv2/tasks/create/file/", self.create_file, methods=["POST"]),
                Route("/apiv2/tasks/status/{task_id:int}/", self.status, methods=["GET"]),
                Route("/apiv2/tasks/get/report/{task_id:int}/", self.report, methods=["GET"]),
            ]
        )

    async def _guard(self, request: Request) -> JSONResponse | None:
        import asyncio

        self.requests.append(f"{request.method} {request.url.path}")
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"detail": "simulated failure"}, status_code=500)
        if self.token is not None and request.headers.get("authorization") != f"Token {self.token}":
            return JSONResponse({"detail": "Invalid token."}, status_code=401)
        return None

    async def create_file(self, request: Request) -> JSONResponse:
        if (denied := await self._guard(request)) is not None:
            return denied
        fields, files = parse_multipart(request.headers.get("content-type", ""), await request.body())
        if "file" not in files:
            return JSONResponse({"error": True, "error_value": "No file was submitted"})
        filename, data = files["file"]
        task_id = 1000 + len(self.tasks) + 1
        timeout = int(fields.get("timeout") or 0)
        self.tasks[task_id] = SimTask(task_id, filename, hashlib.sha256(data).hexdigest(), timeout,
                                      list(self.progression))  # fmt: skip
        return JSONResponse({"error": False, "data": {"task_ids": [task_id],
                             "message": f"Task ID(s) {task_id} has been submitted"}})  # fmt: skip

    async def status(self, request: Request) -> JSONResponse:
        if (denied := await self._guard(request)) is not None:
            return denied
        task = self.tasks.get(request.path_params["task_id"])
        if task is None:
            return JSONResponse({"error": True, "error_value": "Task does not exist"})
        status = task.status
        task.polls += 1
        return JSONResponse({"error": False, "data": status})

    async def report(self, request: Request) -> JSONResponse:
        if (denied := await self._guard(request)) is not None:
            return denied
        task = self.tasks.get(request.path_params["task_id"])
        if task is None:
            return JSONResponse({"error": True, "error_value": "Task does not exist"})
        if task.status != "reported":
            return JSONResponse({"error": True, "error_value": "Task is still being analyzed"})
        body = dict(self.reports.get(task.sha256, self.default_report))
        body.setdefault("info", {"id": task.task_id, "duration": 42, "timeout": False})
        body.setdefault("target", {"category": "file", "file": {"name": task.name, "sha256": task.sha256}})
        return JSONResponse(body)
