"""box-js (WScript/JScript emulation on Node.js) for .js/.jse/.wsf script attachments.

box-js runs the script in vm2, which is NOT a security boundary: it runs here in a subprocess
under CPU, memory and wall-time limits with a clean environment and a throw-away folder, and with
``--fake-download`` so it never fetches anything (``--no-shell-error`` keeps scripts going past
``WScript.Shell.Run``). Its results folder (``IOC.json``, ``urls.json``, ``active_urls.json``,
``resources.json``) is mapped to a :class:`SandboxReport`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from connectors.sandbox.local import LocalRunner, RunLimits
from tap_core.attachments.filetype import identify
from tap_core.attachments.sandbox import (
    DroppedFile,
    NetworkContact,
    ProcessEvent,
    RegistryChange,
    SandboxError,
    SandboxReport,
    SandboxStatus,
    SubmissionId,
    UnsupportedFile,
)

BOXJS_VERSION = "1.9.27"
#: Content types box-js can emulate (WScript hosts: JScript and WSF with JScript).
BOXJS_TYPES = frozenset({"js", "wsf"})
_SCRIPT_EXT = (".js", ".jse", ".wsf", ".wsh")


def find_boxjs() -> str | None:
    """``TAP365_BOXJS``, then ``node_modules/.bin/box-js`` of this checkout, then ``box-js`` on PATH."""
    explicit = os.environ.get("TAP365_BOXJS")
    if explicit:
        return explicit if Path(explicit).exists() else None
    local = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "box-js"
    if local.exists():
        return str(local)
    return shutil.which("box-js")


class BoxJsProvider:
    name = "box-js"

    def __init__(
        self, boxjs: str | None = None, node: str | None = None, limits: RunLimits | None = None
    ) -> None:
        self.boxjs = boxjs or find_boxjs()
        self.node = node or shutil.which("node")
        if not self.boxjs or not self.node:
            raise SandboxError(
                f"box-js needs Node.js and the npm package box-js@{BOXJS_VERSION} "
                "(npm install box-js, or set TAP365_BOXJS to its bin/box-js)"
            )
        # V8 reserves a lot of address space up front: RLIMIT_AS must stay generous.
        self.runner = LocalRunner(
            limits or RunLimits(cpu_seconds=60, memory_bytes=16 * 1024**3, wall_seconds=90)
        )

    def submit(self, name: str, data: bytes, timeout_seconds: int) -> SubmissionId:
        kind = identify(data).type
        if kind not in BOXJS_TYPES and not (kind == "text" and name.lower().endswith(_SCRIPT_EXT)):
            raise UnsupportedFile(f"box-js emulates JScript/WSF, not {kind}")
        inner = max(5, min(int(timeout_seconds), int(self.runner.limits.wall_seconds)) - 5)
        if kind == "wsf" or name.lower().endswith((".wsf", ".wsh")):
            data = wsf_to_jscript(data)  # box-js 1.9.x no longer unwraps WSF itself
        suffix = ".js"

        def command(sample: Path, workdir: Path) -> list[str]:
            script = sample.with_name("sample" + suffix)  # box-js picks the host from the extension
            sample.rename(script)
            (workdir / "out").mkdir()
            return [self.node or "node", "--max-old-space-size=512", self.boxjs or "box-js", str(script),
                    f"--output-dir={workdir / 'out'}", "--fake-download", "--no-shell-error",
                    f"--timeout={inner}"]  # fmt: skip

        env = {"PATH": os.path.dirname(self.node or "/usr/bin/node") + ":/usr/bin:/bin"}
        return self.runner.start(name, data, command, timeout_seconds, env=env)

    def status(self, submission_id: SubmissionId) -> SandboxStatus:
        status = self.runner.status(submission_id)
        if status is SandboxStatus.DONE:
            run = self.runner.get(submission_id)
            if not run.hit_limit and _results_dir(run.workdir) is None:
                return SandboxStatus.FAILED
        return status

    def report(self, submission_id: SubmissionId) -> SandboxReport:
        run = self.runner.get(submission_id)
        if run.poll() is None:
            raise SandboxError("the run is not finished: poll status() until it is done")
        if run.report is None:
            base = SandboxReport(provider=self.name, submission_id=submission_id, sample_name=run.name,
                                 sample_sha256=run.sha256, timed_out=bool(run.hit_limit))  # fmt: skip
            results = _results_dir(run.workdir)
            if results is None:
                tail = self.runner.stderr(run)[-500:]
                run.report = base.model_copy(update={"errors": [f"box-js produced no results: {tail}"]})
            else:
                run.report = parse_results(results, base)
                if run.finished is not None:
                    run.report.duration_seconds = round(run.finished - run.started, 3)
        return run.report

    def close(self) -> None:
        self.runner.close()


_WSF_OPEN = re.compile(rb"<script\b([^<>]*)>", re.IGNORECASE)
_WSF_CLOSE = re.compile(rb"</script\s*>", re.IGNORECASE)
_JSCRIPT = re.compile(rb"""language\s*=\s*["']?\s*(jscript|javascript|jscript\.encode)\b""", re.IGNORECASE)


def wsf_to_jscript(data: bytes) -> bytes:
    """The inline JScript blocks of a Windows Script File, in order, as one script for box-js."""
    blocks = []
    for attributes, body in _wsf_scripts(data):
        if _JSCRIPT.search(attributes):
            blocks.append(body.replace(b"<![CDATA[", b"").replace(b"]]>", b""))
    if not blocks:
        raise UnsupportedFile("this WSF has no inline JScript (box-js does not emulate VBScript)")
    return b"\n;\n".join(blocks)


def _wsf_scripts(data: bytes) -> list[tuple[bytes, bytes]]:
    """(attributes, body) of each <script> element. A loop, not one regex: "<script>" * 10,000
    with no end tag made a lazy body search run to the end from every opening (quadratic); here
    the first opening without an end tag ends the scan, as none after it can have one."""
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    while (opening := _WSF_OPEN.search(data, pos)) is not None:
        closing = _WSF_CLOSE.search(data, opening.end())
        if closing is None:
            break
        out.append((opening.group(1), data[opening.end() : closing.start()]))
        pos = closing.end()
    return out


def _results_dir(workdir: Path) -> Path | None:
    found = [p for p in (workdir / "out").glob("*.results") if (p / "IOC.json").exists()]
    return found[0] if found else None


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None


def parse_results(results: Path, base: SandboxReport) -> SandboxReport:
    """box-js's results folder -> report. Unknown IOC types are ignored; the log tail gives errors."""
    iocs = _load(results / "IOC.json") or []
    urls = [str(u) for u in _load(results / "urls.json") or []]
    active = {str(u) for u in _load(results / "active_urls.json") or []}
    dropped: dict[str, DroppedFile] = {}
    network: list[NetworkContact] = []
    processes: list[ProcessEvent] = []
    registry: list[RegistryChange] = []
    downloaded: set[str] = set(active)
    for ioc in iocs if isinstance(iocs, list) else []:
        kind, value = str(ioc.get("type", "")), ioc.get("value")
        val: dict[str, Any] = value if isinstance(value, dict) else {}
        if kind in ("FileWrite", "FileCopy", "FileMove", "CreateShortcut"):
            path = str(val.get("file") or val.get("dest") or val.get("name") or "")
            if path:
                dropped.setdefault(path, DroppedFile(path=path))
        elif kind == "NewResource":
            path = str(val.get("path") or "")
            if path:
                dropped[path] = DroppedFile(path=path, sha256=str(val.get("sha256") or ""),
                                            kind=_resource_kind(str(val.get("type") or "")))  # fmt: skip
            if val.get("latestUrl"):
                downloaded.add(str(val["latestUrl"]))
        elif kind in ("Run", "CommandExec"):
            command = str(val.get("command") if val else value)
            processes.append(ProcessEvent(action="create", command=command))
        elif kind == "Task":
            processes.append(
                ProcessEvent(action="create", command=f"scheduled task: {json.dumps(value)[:200]}")
            )
        elif kind == "WindowsInstaller" and val.get("url"):
            downloaded.add(str(val["url"]))
        elif kind == "RegWrite":
            key = str(val.get("key") or "")
            head, _, name = key.rpartition("\\")
            registry.append(RegistryChange(action="set_value", key=head or key, value_name=name,
                                           data=str(val.get("value") or "")[:200]))  # fmt: skip
        elif kind == "RegDelete":
            registry.append(RegistryChange(action="delete_value", key=str(val.get("key") or value or "")))
    for url in urls:
        host = url.split("/")[2] if url.count("/") >= 2 else ""
        network.append(NetworkContact(kind="download" if url in downloaded else "http", url=url, host=host))
    for url in downloaded - set(urls):
        network.append(
            NetworkContact(kind="download", url=url, host=url.split("/")[2] if url.count("/") >= 2 else "")
        )
    errors = [line for line in _log_lines(results) if line.startswith("[error]")][:10]
    update = {"files_dropped": list(dropped.values()), "network": network, "processes": processes,
              "registry_changes": registry, "errors": errors}  # fmt: skip
    return base.model_copy(update=update)


def _resource_kind(description: str) -> str:
    lowered = description.lower()
    if "pe32" in lowered or "ms-dos executable" in lowered:
        return "dll" if "dll" in lowered else "exe"
    return ""


def _log_lines(results: Path) -> list[str]:
    try:
        return (results / "analysis.log").read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
    except OSError:
        return []
