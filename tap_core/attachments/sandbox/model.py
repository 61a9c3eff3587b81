"""The typed report every sandbox provider is mapped to, whatever it ran (emulator, box-js, CAPE)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, NewType

from pydantic import BaseModel, Field

#: A provider's handle for one detonation (CAPE task id, a local job id...).
SubmissionId = NewType("SubmissionId", str)


class SandboxStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DroppedFile(BaseModel):
    """A file the sample wrote (or downloaded) during the run."""

    path: str
    size: int | None = None
    sha256: str = ""
    #: Content type when the provider could tell (e.g. ``exe``), else empty.
    kind: str = ""


class RegistryChange(BaseModel):
    action: Literal["create_key", "set_value", "delete_key", "delete_value"]
    key: str
    value_name: str = ""
    data: str = ""


class NetworkContact(BaseModel):
    """An attempt to reach the network: a lookup, a connection, a request or a download."""

    kind: Literal["dns", "tcp", "udp", "http", "download"]
    host: str = ""
    ip: str = ""
    port: int | None = None
    url: str = ""
    method: str = ""


class ProcessEvent(BaseModel):
    """A process started by the sample, or one it tampered with (injection)."""

    action: Literal["create", "inject"]
    command: str = ""
    target: str = ""


class ApiCall(BaseModel):
    """A call of note (injection, anti-analysis...), not a full trace."""

    name: str
    detail: str = ""


class Signature(BaseModel):
    """A provider's own named detection (CAPE signatures); severity 1 (info) to 5."""

    name: str
    description: str = ""
    severity: int = 1


class SandboxReport(BaseModel):
    """What a detonation showed. Empty lists mean "not observed", not "proven absent"."""

    provider: str
    submission_id: str = ""
    sample_name: str = ""
    sample_sha256: str = ""
    files_dropped: list[DroppedFile] = Field(default_factory=list)
    registry_changes: list[RegistryChange] = Field(default_factory=list)
    network: list[NetworkContact] = Field(default_factory=list)
    processes: list[ProcessEvent] = Field(default_factory=list)
    api_calls: list[ApiCall] = Field(default_factory=list)
    signatures: list[Signature] = Field(default_factory=list)
    #: Problems of the run (unsupported API, emulation fault, provider error), for the analyst.
    errors: list[str] = Field(default_factory=list)
    #: The run was cut by its time limit: later behaviour was not seen.
    timed_out: bool = False
    duration_seconds: float | None = None

    @property
    def observed_nothing(self) -> bool:
        return not (
            self.files_dropped
            or self.registry_changes
            or self.network
            or self.processes
            or self.api_calls
            or self.signatures
        )
