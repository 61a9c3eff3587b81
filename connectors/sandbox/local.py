"""Local detonation runs: a sample in a temp folder, a subprocess under CPU, memory and wall-time
limits, polled without blocking. Shared by the Speakeasy and box-js providers.

The limits bound what an emulator bug or a hostile sample can cost this host; they are not an
isolation boundary (run the function app's sandbox worker in its own container for that).
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tap_core.attachments.sandbox import SandboxError, SandboxReport, SandboxStatus, SubmissionId


@dataclass(frozen=True, slots=True)
class RunLimits:
    #: CPU seconds (RLIMIT_CPU): the kernel kills a busy loop past this.
    cpu_seconds: int = 60
    #: Address space (RLIMIT_AS); emulators map a lot, keep room.
    memory_bytes: int = 2 * 1024**3
    #: Wall time; a sleeping sample is killed at this point and the report says timed_out.
    wall_seconds: float = 120.0
    #: Largest file the run may write (RLIMIT_FSIZE).
    file_bytes: int = 64 * 1024**2
    #: Largest sample accepted.
    max_sample_bytes: int = 32 * 1024**2


def _limit(limits: RunLimits) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


@dataclass
class LocalRun:
    """One subprocess run in its own folder (and its own process group, killed as a whole)."""

    submission_id: str
    name: str
    sha256: str
    workdir: Path
    process: subprocess.Popen[bytes]
    started: float
    wall_seconds: float
    killed_for_time: bool = False
    finished: float | None = None
    report: SandboxReport | None = None
    stderr_tail: str = field(default="")

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is None and time.monotonic() - self.started > self.wall_seconds:
            self.kill()
            self.killed_for_time = True
            code = self.process.wait(timeout=10)
        if code is not None and self.finished is None:
            self.finished = time.monotonic()
        return code

    @property
    def hit_limit(self) -> str:
        """Which limit ended the run ("" when none): wall time, or CPU time (SIGXCPU / the hard kill)."""
        if self.killed_for_time:
            return "wall-time limit"
        if self.process.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            return "CPU-time limit"
        return ""

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group we created for this run only
        except ProcessLookupError:
            pass


class LocalRunner:
    """Starts, tracks and cleans up local runs. Thread-safe."""

    def __init__(self, limits: RunLimits | None = None, keep_runs: int = 64) -> None:
        self.limits = limits or RunLimits()
        self._runs: dict[str, LocalRun] = {}
        self._lock = threading.Lock()
        self._keep = keep_runs

    def start(
        self,
        name: str,
        data: bytes,
        command: Callable[[Path, Path], Sequence[str]],
        timeout_seconds: float,
        env: dict[str, str] | None = None,
    ) -> SubmissionId:
        """Write the sample to a new temp folder and start ``command(sample_path, workdir)``."""
        if len(data) > self.limits.max_sample_bytes:
            raise SandboxError(
                f"sample of {len(data)} bytes is over the {self.limits.max_sample_bytes} limit"
            )
        workdir = Path(tempfile.mkdtemp(prefix="tap365-sbx-"))
        sample = workdir / "sample" / (Path(name).name or "sample.bin")
        sample.parent.mkdir()
        sample.write_bytes(data)
        wall = min(float(timeout_seconds), self.limits.wall_seconds)
        try:
            process = subprocess.Popen(
                list(command(sample, workdir)),
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=(workdir / "stderr.txt").open("wb"),
                env=env if env is not None else _clean_env(),
                preexec_fn=_limit(self.limits),
                start_new_session=True,
            )
        except OSError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise SandboxError(f"could not start the sandbox process: {exc}") from exc
        submission = uuid.uuid4().hex
        run = LocalRun(
            submission, name, hashlib.sha256(data).hexdigest(), workdir, process, time.monotonic(), wall
        )
        with self._lock:
            self._runs[submission] = run
            self._trim()
        return SubmissionId(submission)

    def get(self, submission_id: str) -> LocalRun:
        with self._lock:
            run = self._runs.get(submission_id)
        if run is None:
            raise SandboxError(
                f"unknown submission {submission_id!r} (this runner never started it, or forgot it)"
            )
        return run

    def status(self, submission_id: str) -> SandboxStatus:
        run = self.get(submission_id)
        code = run.poll()
        if code is None:
            return SandboxStatus.RUNNING
        return SandboxStatus.DONE

    def stderr(self, run: LocalRun, limit: int = 2000) -> str:
        path = run.workdir / "stderr.txt"
        return path.read_bytes()[-limit:].decode("utf-8", "replace") if path.exists() else ""

    def close(self) -> None:
        with self._lock:
            runs, self._runs = list(self._runs.values()), {}
        for run in runs:
            self._discard(run)

    def _trim(self) -> None:
        while len(self._runs) > self._keep:
            oldest = next(iter(self._runs))
            self._discard(self._runs.pop(oldest))

    @staticmethod
    def _discard(run: LocalRun) -> None:
        if run.process.poll() is None:
            run.kill()
            run.process.wait(timeout=10)
        shutil.rmtree(run.workdir, ignore_errors=True)


def _clean_env() -> dict[str, str]:
    # The child gets no credentials or proxies from our environment.
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SYSTEMROOT")
    return {k: v for k, v in os.environ.items() if k in keep}
