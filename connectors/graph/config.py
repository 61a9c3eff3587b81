"""Settings of the Microsoft Graph connector (environment prefix ``TAP365_GRAPH_``).

One app registration serves every tenant: the tenant only changes the authority path and the
credential; everything here is per app.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class GraphSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAP365_GRAPH_", extra="ignore")

    #: Entra authority host; the authority is ``{authority_host}/{tenant_id}``.
    authority_host: str = "https://login.microsoftonline.com"
    #: Graph base URL, no trailing slash (the SDK appends paths to it).
    base_url: str = "https://graph.microsoft.com/v1.0"
    #: Application (client) id of the multi-tenant app registration.
    client_id: str = ""
    #: Client secret; used only when no certificate is configured.
    client_secret: str = Field(default="", repr=False)
    #: PEM file holding the certificate and its private key, or a .pfx/.p12 (preferred over a
    #: secret).
    certificate_path: str = ""
    #: SHA-1 thumbprint (hex) of that certificate; empty = MSAL derives a SHA-256 one.
    certificate_thumbprint: str = ""
    #: Password of the private key / PFX in ``certificate_path`` (empty = unencrypted).
    certificate_password: str = Field(default="", repr=False)
    #: CA bundle trusted for Entra and Graph (tests point it at the simulator's CA).
    ca_bundle: str = ""
    #: Seconds to connect / to wait for a response.
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    #: Concurrent Graph requests per app (Exchange allows 4 per app per mailbox).
    max_concurrency: int = 4
    #: Retries on 429/503/504 (at most 10, the SDK's limit); ``Retry-After`` is honoured.
    max_retries: int = 3
    #: Base delay (seconds) added to the exponential backoff when Graph sends no Retry-After.
    retry_delay: float = 3.0
    #: File attachments Graph sends without ``contentBytes`` are downloaded through ``/$value``
    #: up to this size (bytes); larger ones stay truncated (the pipelines see that).
    max_attachment_bytes: int = 50 * 1024 * 1024

    @field_validator("authority_host", "base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("max_retries")
    @classmethod
    def _retries(cls, value: int) -> int:
        if not 0 <= value <= 10:
            raise ValueError("max_retries must be between 0 and 10 (msgraph-sdk's limit)")
        return value

    @field_validator("max_concurrency")
    @classmethod
    def _concurrency(cls, value: int) -> int:
        if value < 1:
            raise ValueError("max_concurrency must be at least 1")
        return value

    @property
    def verify(self) -> str | bool:
        """What ``requests``/``httpx`` should verify TLS against."""
        return self.ca_bundle or True

    @property
    def uses_certificate(self) -> bool:
        return bool(self.certificate_path)

    def check(self) -> None:
        """Raise a ValueError that says what to set when the app cannot authenticate."""
        if not self.client_id:
            raise ValueError("TAP365_GRAPH_CLIENT_ID is empty: set the app registration's client id")
        if not self.certificate_path and not self.client_secret:
            raise ValueError(
                "no credential: set TAP365_GRAPH_CERTIFICATE_PATH (PEM with key) "
                "or TAP365_GRAPH_CLIENT_SECRET"
            )
        if self.certificate_path and not Path(self.certificate_path).is_file():
            raise ValueError(f"TAP365_GRAPH_CERTIFICATE_PATH {self.certificate_path!r} is not a file")
        if self.ca_bundle and not Path(self.ca_bundle).is_file():
            raise ValueError(f"TAP365_GRAPH_CA_BUNDLE {self.ca_bundle!r} is not a file")
