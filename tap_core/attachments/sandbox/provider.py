"""The interface a sandbox provider implements; the implementations live in ``connectors/sandbox``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tap_core.attachments.sandbox.model import SandboxReport, SandboxStatus, SubmissionId


class SandboxError(Exception):
    """The provider could not do what was asked (unreachable, refused, broken report)."""


class UnsupportedFile(SandboxError):
    """No configured provider can detonate this kind of file: the policy's timeout action applies."""


@runtime_checkable
class SandboxProvider(Protocol):
    """Submit a file, poll its status, fetch its report. Every call must return quickly
    (seconds): the caller polls with delayed queue messages instead of blocking."""

    name: str

    def submit(self, name: str, data: bytes, timeout_seconds: int) -> SubmissionId:
        """Start a detonation of at most ``timeout_seconds``; raise :class:`UnsupportedFile` when
        this provider cannot run the file and :class:`SandboxError` when it is unavailable."""
        ...

    def status(self, submission_id: SubmissionId) -> SandboxStatus: ...

    def report(self, submission_id: SubmissionId) -> SandboxReport:
        """The report of a DONE submission; :class:`SandboxError` when it is not ready or lost."""
        ...
