"""``LocalSandbox``: one :class:`SandboxProvider` that picks a backend by file kind.

PE (exe/dll) -> Speakeasy; JScript/WSF -> box-js; anything else -> CAPE when configured. With no
backend for the file, ``submit`` raises :class:`UnsupportedFile` and the policy's timeout action
applies (see ``tap_core.attachments.sandbox.orchestration``). Submission ids are prefixed with
the backend's name so status and report calls find their way back.
"""

from __future__ import annotations

import logging

from connectors.settings import Settings
from tap_core.attachments.filetype import identify
from tap_core.attachments.sandbox import (
    SandboxError,
    SandboxProvider,
    SandboxReport,
    SandboxStatus,
    SubmissionId,
    UnsupportedFile,
)

log = logging.getLogger("tap365.sandbox")
_ROUTES: dict[str, str] = {"exe": "speakeasy", "dll": "speakeasy", "js": "box-js", "wsf": "box-js"}
_SCRIPT_NAMES = (".js", ".jse", ".wsf")


class LocalSandbox:
    name = "local"

    def __init__(
        self,
        speakeasy: SandboxProvider | None = None,
        boxjs: SandboxProvider | None = None,
        cape: SandboxProvider | None = None,
    ) -> None:
        self.backends: dict[str, SandboxProvider] = {
            name: provider
            for name, provider in (("speakeasy", speakeasy), ("box-js", boxjs), ("cape", cape))
            if provider is not None
        }

    @classmethod
    def from_environment(
        cls, cape: SandboxProvider | None = None, settings: Settings | None = None
    ) -> LocalSandbox:
        """Every local backend whose tools are installed (missing ones are simply not used), and
        CAPEv2 when ``TAP365_SANDBOX_URL`` names its API root (e.g. ``https://cape.example/apiv2``),
        authenticated with ``settings.sandbox_token`` (``TAP365_SANDBOX_TOKEN``) when set."""
        import os

        from connectors.sandbox.boxjs_provider import BoxJsProvider
        from connectors.sandbox.cape import CapeProvider
        from connectors.sandbox.speakeasy_provider import SpeakeasyProvider

        if cape is None and os.environ.get("TAP365_SANDBOX_URL"):
            token = cape_token(settings or Settings())
            cape = CapeProvider(os.environ["TAP365_SANDBOX_URL"], token=token)

        backends: dict[str, SandboxProvider | None] = {"speakeasy": None, "boxjs": None}
        for key, factory in (("speakeasy", SpeakeasyProvider), ("boxjs", BoxJsProvider)):
            try:
                backends[key] = factory()
            except SandboxError:
                pass
        return cls(speakeasy=backends["speakeasy"], boxjs=backends["boxjs"], cape=cape)

    def route(self, name: str, data: bytes) -> str:
        """The backend name for this file, or raise :class:`UnsupportedFile` saying what is missing."""
        kind = identify(data).type
        wanted = _ROUTES.get(kind) or (
            "box-js" if kind == "text" and name.lower().endswith(_SCRIPT_NAMES) else None
        )
        if wanted in self.backends:
            return wanted
        if "cape" in self.backends:
            return "cape"
        missing = f" (the {wanted} backend is not installed)" if wanted else ""
        raise UnsupportedFile(f"no sandbox configured for {kind} files{missing}; configure CAPE for the rest")

    def submit(self, name: str, data: bytes, timeout_seconds: int) -> SubmissionId:
        backend = self.route(name, data)
        inner = self.backends[backend].submit(name, data, timeout_seconds)
        return SubmissionId(f"{backend}:{inner}")

    def status(self, submission_id: SubmissionId) -> SandboxStatus:
        backend, inner = self._split(submission_id)
        return backend.status(inner)

    def report(self, submission_id: SubmissionId) -> SandboxReport:
        backend, inner = self._split(submission_id)
        return backend.report(inner)

    def close(self) -> None:
        for backend in self.backends.values():
            close = getattr(backend, "close", None)
            if callable(close):
                close()

    def _split(self, submission_id: str) -> tuple[SandboxProvider, SubmissionId]:
        name, _, inner = submission_id.partition(":")
        if name not in self.backends or not inner:
            raise SandboxError(f"submission {submission_id!r} belongs to no configured backend")
        return self.backends[name], SubmissionId(inner)


def cape_token(settings: Settings) -> str:
    """``TAP365_SANDBOX_TOKEN``, or "" while it is a Key Vault reference App Service could not
    resolve: the templates always set the reference but store the secret only when the CAPE admin
    gave a token, and App Service then passes the reference text itself, which is no token."""
    token = settings.sandbox_token
    if token.startswith("@Microsoft.KeyVault("):
        log.warning(
            "TAP365_SANDBOX_TOKEN is an unresolved Key Vault reference (no secret sandbox-token?): "
            "CAPE is called without a token"
        )
        return ""
    return token


def run_to_completion(
    provider: SandboxProvider, name: str, data: bytes, timeout_seconds: int, poll_seconds: float = 0.2
) -> SandboxReport:
    """Submit and wait (CLI, tests, benchmarks only: the function app polls with queue messages)."""
    import time

    submission = provider.submit(name, data, timeout_seconds)
    deadline = time.monotonic() + timeout_seconds + 30
    while time.monotonic() < deadline:
        status = provider.status(submission)
        if status is SandboxStatus.DONE:
            return provider.report(submission)
        if status is SandboxStatus.FAILED:
            raise SandboxError(f"{provider.name} run {submission} failed")
        time.sleep(poll_seconds)
    raise SandboxError(f"{provider.name} gave no result within {timeout_seconds} s")
