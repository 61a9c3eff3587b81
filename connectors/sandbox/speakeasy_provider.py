"""Speakeasy (Windows user-mode emulation) for PE files and shellcode, one limited subprocess per
sample (see :mod:`connectors.sandbox.speakeasy_worker` for what is hooked and reported)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from connectors.sandbox.local import LocalRunner, RunLimits
from tap_core.attachments.filetype import identify
from tap_core.attachments.sandbox import (
    ApiCall,
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


def speakeasy_available() -> bool:
    return importlib.util.find_spec("speakeasy") is not None


class SpeakeasyProvider:
    """PE executables and DLL entry points (``exe``/``dll``); raw shellcode when asked explicitly."""

    name = "speakeasy"

    def __init__(self, limits: RunLimits | None = None, python: str = sys.executable) -> None:
        if not speakeasy_available():
            raise SandboxError("speakeasy is not installed: pip install speakeasy-emulator==1.5.11")
        self.runner = LocalRunner(limits or RunLimits(cpu_seconds=90, wall_seconds=120))
        self._python = python
        self._shellcode: dict[str, str] = {}

    def submit(self, name: str, data: bytes, timeout_seconds: int) -> SubmissionId:
        kind = identify(data).type
        if kind not in ("exe", "dll"):
            raise UnsupportedFile(f"speakeasy runs Windows PE files, not {kind}")
        return self._start(name, data, timeout_seconds, None)

    def submit_shellcode(
        self, name: str, data: bytes, timeout_seconds: int, arch: str = "x86"
    ) -> SubmissionId:
        if arch not in ("x86", "amd64"):
            raise ValueError("arch must be 'x86' or 'amd64'")
        return self._start(name, data, timeout_seconds, arch)

    def _start(self, name: str, data: bytes, timeout_seconds: int, arch: str | None) -> SubmissionId:
        def command(sample: Path, workdir: Path) -> list[str]:
            cmd = [
                self._python,
                "-m",
                "connectors.sandbox.speakeasy_worker",
                str(sample),
                str(workdir / "out.json"),
            ]
            return cmd + (["--shellcode", arch] if arch else [])

        root = str(Path(__file__).resolve().parents[2])  # the worker is imported from this checkout
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": root, "PYTHONDONTWRITEBYTECODE": "1"}
        return self.runner.start(name, data, command, timeout_seconds, env=env)

    def status(self, submission_id: SubmissionId) -> SandboxStatus:
        status = self.runner.status(submission_id)
        if status is SandboxStatus.DONE:
            run = self.runner.get(submission_id)
            if not run.hit_limit and not (run.workdir / "out.json").exists():
                return SandboxStatus.FAILED
        return status

    def report(self, submission_id: SubmissionId) -> SandboxReport:
        run = self.runner.get(submission_id)
        if run.poll() is None:
            raise SandboxError("the run is not finished: poll status() until it is done")
        if run.report is not None:
            return run.report
        out = run.workdir / "out.json"
        base = SandboxReport(provider=self.name, submission_id=submission_id, sample_name=run.name,
                             sample_sha256=run.sha256, timed_out=bool(run.hit_limit))  # fmt: skip
        if not out.exists():
            reason = f"killed at the {run.hit_limit}" if run.hit_limit else self.runner.stderr(run)[-500:]
            run.report = base.model_copy(update={"errors": [f"speakeasy produced no report: {reason}"]})
            return run.report
        try:
            raw = json.loads(out.read_text(encoding="utf-8"))
            run.report = to_report(raw, base)
        except (ValueError, TypeError, KeyError) as exc:
            raise SandboxError(f"unreadable speakeasy worker output: {exc}") from exc
        return run.report

    def close(self) -> None:
        self.runner.close()


def to_report(raw: dict[str, object], base: SandboxReport) -> SandboxReport:
    """The worker's flat JSON -> :class:`SandboxReport` (validated: a sample can shape the strings)."""
    return base.model_copy(
        update={
            "files_dropped": [DroppedFile.model_validate(f) for f in raw.get("files_dropped") or []],  # type: ignore[attr-defined]
            "registry_changes": [
                RegistryChange.model_validate({k: v for k, v in r.items() if k != "type"})
                for r in raw.get("registry_changes") or []  # type: ignore[attr-defined]
            ],
            "network": [NetworkContact.model_validate(n) for n in raw.get("network") or []],  # type: ignore[attr-defined]
            "processes": [ProcessEvent.model_validate(p) for p in raw.get("processes") or []],  # type: ignore[attr-defined]
            "api_calls": [ApiCall.model_validate(a) for a in raw.get("api_calls") or []],  # type: ignore[attr-defined]
            "errors": [str(e) for e in raw.get("errors") or []],  # type: ignore[attr-defined]
            "timed_out": bool(raw.get("timed_out")) or base.timed_out,
            "duration_seconds": raw.get("duration_seconds"),
        }
    )
