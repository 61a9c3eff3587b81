"""CAPEv2 through its REST API (``/apiv2``), token auth, short timeouts on every call.

Endpoints (CAPEv2 ``web/apiv2/urls.py``): ``POST tasks/create/file/`` (multipart ``file``, options
``timeout``, ``package``...) -> ``{"error": false, "data": {"task_ids": [N]}}``;
``GET tasks/status/<id>/`` -> ``{"error": false, "data": "<status>"}``;
``GET tasks/get/report/<id>/`` -> the JSON report (or ``{"error": true, "error_value": ...}``).
Report keys mapped: ``network`` (hosts, domains, http, tcp, udp, dns), ``behavior.summary``
(write_files, write_keys, delete_keys, executed_commands, created_services), ``dropped``,
``signatures``, ``debug.errors``.
"""

from __future__ import annotations

from typing import Any

import httpx

from tap_core.attachments.sandbox import (
    DroppedFile,
    NetworkContact,
    ProcessEvent,
    RegistryChange,
    SandboxError,
    SandboxReport,
    SandboxStatus,
    Signature,
    SubmissionId,
)

#: CAPE task states -> ours. ``completed`` means analysed but not yet processed: keep polling.
CAPE_STATUS: dict[str, SandboxStatus] = {
    "pending": SandboxStatus.PENDING,
    "distributed": SandboxStatus.PENDING,
    "running": SandboxStatus.RUNNING,
    "completed": SandboxStatus.RUNNING,
    "recovered": SandboxStatus.RUNNING,
    "reported": SandboxStatus.DONE,
    "failed_analysis": SandboxStatus.FAILED,
    "failed_processing": SandboxStatus.FAILED,
    "failed_reporting": SandboxStatus.FAILED,
    "banned": SandboxStatus.FAILED,
}


class CapeProvider:
    """``base_url`` is the API root, e.g. ``https://cape.example.net/apiv2``."""

    name = "cape"

    def __init__(
        self,
        base_url: str,
        token: str = "",
        *,
        timeout: float = 15.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        # CAPE's REST API (django-rest-framework TokenAuthentication) wants ``Token <key>``. The
        # key lives only in the client's default headers: no message or log of ours carries it.
        headers = {"Authorization": f"Token {token}"} if token else {}
        self._has_token = bool(token)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            verify=verify,
            transport=transport,
            trust_env=False,  # never route the sandbox API through an ambient proxy
        )
        self._options = options or {}

    def submit(self, name: str, data: bytes, timeout_seconds: int) -> SubmissionId:
        form = {"timeout": str(int(timeout_seconds)), "enforce_timeout": "0", **self._options}
        body = self._call(
            "POST", "tasks/create/file/", files={"file": (name or "sample.bin", data)}, data=form
        )
        ids = (body.get("data") or {}).get("task_ids") if isinstance(body.get("data"), dict) else None
        if not ids:
            raise SandboxError(f"CAPE accepted the upload but returned no task id: {str(body)[:200]}")
        return SubmissionId(str(ids[0]))

    def status(self, submission_id: SubmissionId) -> SandboxStatus:
        body = self._call("GET", f"tasks/status/{int(submission_id)}/")
        state = str(body.get("data") or "")
        if state not in CAPE_STATUS:
            raise SandboxError(f"CAPE task {submission_id}: unknown status {state!r}")
        return CAPE_STATUS[state]

    def report(self, submission_id: SubmissionId) -> SandboxReport:
        body = self._call("GET", f"tasks/get/report/{int(submission_id)}/")
        return map_report(body, SubmissionId(str(submission_id)))

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise SandboxError(f"CAPE did not answer {method} {path} in time") from exc
        except httpx.HTTPError as exc:
            raise SandboxError(
                f"CAPE unreachable ({type(exc).__name__}): check the API URL and network"
            ) from exc
        if response.status_code in (401, 403):
            # Say which of the two it is: no token configured, or a token CAPE does not accept.
            if not self._has_token:
                raise SandboxError(
                    f"CAPE refused the request without an API token (HTTP {response.status_code}): "
                    "set TAP365_SANDBOX_TOKEN"
                )
            raise SandboxError(
                f"CAPE refused the token (HTTP {response.status_code}): check TAP365_SANDBOX_TOKEN"
            )
        if response.status_code >= 400:
            raise SandboxError(f"CAPE answered HTTP {response.status_code} to {method} {path}")
        try:
            body = response.json()
        except ValueError as exc:
            raise SandboxError(f"CAPE answered {method} {path} with non-JSON content") from exc
        if not isinstance(body, dict):
            raise SandboxError(f"CAPE answered {method} {path} with unexpected JSON")
        if body.get("error") is True:
            raise SandboxError(f"CAPE: {body.get('error_value') or 'error'}")
        return body


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def map_report(raw: dict[str, Any], submission_id: SubmissionId) -> SandboxReport:
    """A CAPE JSON report -> :class:`SandboxReport` (missing sections are simply empty)."""
    info = _dict(raw.get("info"))
    target = _dict(_dict(raw.get("target")).get("file"))
    network = _dict(raw.get("network"))
    summary = _dict(_dict(raw.get("behavior")).get("summary"))
    contacts: list[NetworkContact] = []
    for host in _list(network.get("hosts")):
        if isinstance(host, dict):
            contacts.append(
                NetworkContact(kind="tcp", ip=str(host.get("ip", "")), host=str(host.get("hostname", "")))
            )
        elif host:
            contacts.append(NetworkContact(kind="tcp", ip=str(host)))
    for domain in _list(network.get("domains")):
        if isinstance(domain, dict):
            contacts.append(
                NetworkContact(kind="dns", host=str(domain.get("domain", "")), ip=str(domain.get("ip", "")))
            )
    for request in _list(network.get("http")):
        if isinstance(request, dict):
            url = str(request.get("uri") or "")
            contacts.append(
                NetworkContact(
                    kind="http",
                    url=url,
                    host=str(request.get("host", "")),
                    port=_int(request.get("port")),
                    method=str(request.get("method", "")),
                )
            )
    for proto in ("tcp", "udp"):
        for flow in _list(network.get(proto)):
            if isinstance(flow, dict) and flow.get("dst"):
                contacts.append(NetworkContact(kind=proto, ip=str(flow["dst"]), port=_int(flow.get("dport"))))  # type: ignore[arg-type]
    dropped = [
        DroppedFile(path=_guest_path(d), size=_int(d.get("size")), sha256=str(d.get("sha256", "")),
                    kind=_kind(str(d.get("type", ""))))
        for d in _list(raw.get("dropped")) if isinstance(d, dict)
    ]  # fmt: skip
    known = {f.path.lower() for f in dropped}
    dropped += [
        DroppedFile(path=str(p)) for p in _list(summary.get("write_files")) if str(p).lower() not in known
    ]
    registry = [RegistryChange(action="set_value", key=str(k)) for k in _list(summary.get("write_keys"))]
    registry += [RegistryChange(action="delete_key", key=str(k)) for k in _list(summary.get("delete_keys"))]
    processes = [
        ProcessEvent(action="create", command=str(c)) for c in _list(summary.get("executed_commands"))
    ]
    processes += [
        ProcessEvent(action="create", command=f"service: {s}") for s in _list(summary.get("created_services"))
    ]
    signatures = [
        Signature(name=str(s.get("name", "")), description=str(s.get("description", "")),
                  severity=_int(s.get("severity")) or 1)
        for s in _list(raw.get("signatures")) if isinstance(s, dict)
    ]  # fmt: skip
    debug = _dict(raw.get("debug"))
    return SandboxReport(
        provider="cape",
        submission_id=str(submission_id),
        sample_name=str(target.get("name", "")),
        sample_sha256=str(target.get("sha256", "")),
        files_dropped=dropped,
        registry_changes=registry,
        network=contacts,
        processes=processes,
        signatures=signatures,
        errors=[str(e) for e in _list(debug.get("errors"))][:20],
        timed_out=bool(info.get("timeout")),
        duration_seconds=_float(info.get("duration")),
    )


def _guest_path(dropped: dict[str, Any]) -> str:
    # The path inside the guest says where it was written (Startup folder, System32...).
    paths = _list(dropped.get("guest_paths"))
    return str(paths[0] if paths else dropped.get("path") or dropped.get("name") or "")


def _kind(description: str) -> str:
    lowered = description.lower()
    if lowered.startswith("pe32"):
        return "dll" if "dll" in lowered else "exe"
    return "elf" if lowered.startswith("elf") else ""


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
