"""Raw artefacts in blob storage (e.g. original attachments kept for Safe File release).

Blob names are ``<tenant>/<name>``; the tenant part is escaped so one tenant can never address
another's blobs. Size limits are checked before upload and before download, so an oversized
blob is never read into memory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from connectors.storage import _keys
from connectors.storage.blobs import ContainerStore
from connectors.storage.interfaces import ArtefactTooLarge

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,900}$")


class BlobArtefactStore(ContainerStore):
    def __init__(self, service: BlobServiceClient, container: str, *, max_bytes: int) -> None:
        super().__init__(service, container)
        self.max_bytes = max_bytes

    def put(self, tenant_id: str, name: str, data: bytes, *, content_type: str = "application/octet-stream",
            metadata: Mapping[str, str] | None = None) -> str:
        """Store ``data``; returns its SHA-256 (hex), also kept in the blob's metadata."""
        if len(data) > self.max_bytes:
            raise ArtefactTooLarge(
                f"artefact {name!r} is {len(data)} bytes; the limit is {self.max_bytes} "
                "(TAP365_STORAGE_MAX_ARTEFACT_BYTES)"
            )
        sha256 = hashlib.sha256(data).hexdigest()
        self._container.upload_blob(
            self._blob(tenant_id, name), data, overwrite=True,
            metadata={**{_meta_key(k): _ascii(v) for k, v in (metadata or {}).items()}, "sha256": sha256},
            content_settings=ContentSettings(content_type=content_type),
        )
        return sha256

    def get(self, tenant_id: str, name: str) -> bytes | None:
        blob = self._container.get_blob_client(self._blob(tenant_id, name))
        try:
            size = blob.get_blob_properties().size
            if size > self.max_bytes:
                raise ArtefactTooLarge(f"artefact {name!r} is {size} bytes; the limit is {self.max_bytes}")
            return blob.download_blob().readall()
        except ResourceNotFoundError:
            return None

    def delete(self, tenant_id: str, name: str) -> None:
        try:
            self._container.delete_blob(self._blob(tenant_id, name))
        except ResourceNotFoundError:
            pass

    @staticmethod
    def _blob(tenant_id: str, name: str) -> str:
        if not _NAME.match(name) or ".." in name.split("/") or "//" in name:
            raise ValueError(
                f"artefact name {name!r} is invalid: use letters, digits, '.', '_', '-' and '/' "
                "(e.g. '<message id hash>/<attachment sha256>')"
            )
        return f"{_keys.escape(tenant_id)}/{name}"


def _meta_key(name: str) -> str:
    # Metadata names must be C# identifiers: a caller's "file-name" becomes "file_name".
    cleaned = re.sub(r"\W", "_", name, flags=re.ASCII)
    return cleaned if cleaned[:1].isalpha() or cleaned[:1] == "_" else f"m_{cleaned}"


def _ascii(value: str) -> str:
    # Metadata values travel as HTTP headers: ASCII only (e.g. a non-ASCII attachment file name).
    return value.encode("ascii", "backslashreplace").decode()
