"""Per-tenant policy documents as JSON blobs, with ETag optimistic concurrency and history.

``<tenant>/policy.json`` is the current document (version and author in blob metadata); each
successful save also writes ``<tenant>/history/<inverted ticks>-v<version>.json`` so an admin
can see and restore earlier versions, newest first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContentSettings

from connectors.storage import _keys
from connectors.storage.blobs import ContainerStore
from connectors.storage.interfaces import PolicyConflict, PolicyDocument

MAX_POLICY_BYTES = 1024 * 1024


class BlobPolicyStore(ContainerStore):
    def get_policy(self, tenant_id: str) -> PolicyDocument | None:
        try:
            download = self._container.download_blob(self._current(tenant_id))
        except ResourceNotFoundError:
            return None
        return self._document(tenant_id, download.readall(), download.properties)

    def put_policy(self, tenant_id: str, document: Mapping[str, Any], *, etag: str | None,
                   updated_by: str) -> PolicyDocument:
        data = json.dumps(document, indent=2, sort_keys=True).encode()
        if len(data) > MAX_POLICY_BYTES:
            raise ValueError(f"policy is {len(data)} bytes; the limit is {MAX_POLICY_BYTES}")
        current = self.get_policy(tenant_id) if etag is not None else None
        if etag is not None and (current is None or current.etag != etag):
            raise PolicyConflict(self._conflict(tenant_id))
        version = (current.version + 1) if current else 1
        now = _keys.now()
        metadata = {"version": str(version), "updated_by": _ascii(updated_by), "updated_at": now.isoformat()}
        conditions: dict[str, Any] = (
            {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag is not None
            else {"match_condition": MatchConditions.IfMissing}
        )
        blob = self._container.get_blob_client(self._current(tenant_id))
        try:
            result = blob.upload_blob(
                data, overwrite=True, metadata=metadata,
                content_settings=ContentSettings(content_type="application/json"), **conditions,
            )
        except (ResourceExistsError, ResourceNotFoundError):
            raise PolicyConflict(self._conflict(tenant_id)) from None
        except HttpResponseError as error:
            if error.status_code in (409, 412):
                raise PolicyConflict(self._conflict(tenant_id)) from None
            raise
        history = f"{_keys.escape(tenant_id)}/history/{_keys.inverted(now)}-v{version}.json"
        self._container.upload_blob(history, data, overwrite=True, metadata=metadata)
        return PolicyDocument(tenant_id, json.loads(data), version, now, updated_by, str(result["etag"]))

    def policy_history(self, tenant_id: str, limit: int = 20) -> list[PolicyDocument]:
        prefix = f"{_keys.escape(tenant_id)}/history/"
        documents: list[PolicyDocument] = []
        for item in self._container.list_blobs(name_starts_with=prefix):  # names sort newest first
            download = self._container.download_blob(item.name)
            documents.append(self._document(tenant_id, download.readall(), download.properties))
            if len(documents) >= limit:
                break
        return documents

    @staticmethod
    def _current(tenant_id: str) -> str:
        return f"{_keys.escape(tenant_id)}/policy.json"

    @staticmethod
    def _document(tenant_id: str, data: bytes, properties: Any) -> PolicyDocument:
        meta = properties.metadata or {}
        return PolicyDocument(
            tenant_id, json.loads(data), int(meta.get("version", "1")),
            datetime.fromisoformat(meta["updated_at"]) if "updated_at" in meta else properties.last_modified,
            meta.get("updated_by", ""), str(properties.etag),
        )

    @staticmethod
    def _conflict(tenant_id: str) -> str:
        return (
            f"the policy of tenant {tenant_id!r} changed since it was read (or already exists): "
            "re-read it, apply the change again and save with the new etag"
        )


def _ascii(text: str) -> str:
    # Blob metadata values must be ASCII; keep who-did-it readable where possible.
    return text.encode("ascii", "backslashreplace").decode()
