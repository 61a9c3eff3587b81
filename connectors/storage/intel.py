"""Threat intelligence shared by every instance: last good feed copies, the current version, and
each feed's health, in one blob container (``<p>-intel``).

- ``feeds/<digest of location>.bin``: the last bytes of a feed that downloaded and parsed; used
  when the source fails, and by instances that did not download it themselves.
- ``current.json``: the version every instance should run (which copies make it up); its
  ``version`` is also blob metadata, so checking for a change is one HEAD request.
- ``status.json``: per feed, when it last succeeded or failed and why (doctor, admin status).
- ``index/<version>.v<format>.tapintel``: the index of that version built once by the refresh, as one
  compact file (:mod:`tap_core.urls.intel_file`); instances load it with one read instead of
  parsing every feed. Named by version and written before ``current.json`` names it, so a reader
  never sees a half-replaced file.

Feed locations can carry credentials (an API key in the query string): only :func:`redact`-ed
locations are ever stored or reported.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContentSettings

from connectors.storage import _keys
from connectors.storage.blobs import ContainerStore
from tap_core.urls.intel_file import FORMAT_VERSION

_CURRENT = "current.json"
_STATUS = "status.json"


def redact(location: str) -> str:
    """A feed location fit to show: URLs lose user info and query (API keys live there)."""
    if "://" not in location:
        return location
    try:
        parts = urlsplit(location)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparseable feed URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def copy_name(location: str) -> str:
    return f"feeds/{_keys.digest(location)}.bin"


@dataclass
class FeedStatus:
    """One feed's health as the last refresh saw it."""

    feed: str  # redacted location
    ok: bool
    checked_at: str  # ISO 8601 UTC
    #: "download" (fresh bytes), "last good copy" (source failed, stored copy used), "none".
    source: str
    error: str = ""
    last_success: str = ""
    indicators: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IntelManifest:
    """The intelligence version: which stored copies (by blob name and SHA-256) make it up."""

    version: str
    updated_at: str
    feeds: list[dict[str, str]] = field(default_factory=list)  # {"feed", "blob", "sha256", "name"}
    #: Blob of the compact index of this version ("" when none was written: load from the feeds).
    index: str = ""


class BlobIntelStore(ContainerStore):
    # -- feed copies ------------------------------------------------------------------------------
    def put_copy(self, location: str, data: bytes, sha256: str) -> str:
        """Keep ``data`` as the feed's last good copy (skipped when the stored one is the same)."""
        name = copy_name(location)
        blob = self._container.get_blob_client(name)
        try:
            if (blob.get_blob_properties().metadata or {}).get("sha256") == sha256:
                return name
        except ResourceNotFoundError:
            pass
        blob.upload_blob(
            data, overwrite=True, metadata={"sha256": sha256, "feed": _ascii(redact(location))},
            content_settings=ContentSettings(content_type="application/octet-stream"),
        )
        return name

    def get_copy(self, name: str) -> bytes | None:
        try:
            return bytes(self._container.download_blob(name).readall())
        except ResourceNotFoundError:
            return None

    # -- the current version ----------------------------------------------------------------------
    def current_version(self) -> str:
        """The published version ("" when none): one HEAD request."""
        try:
            props = self._container.get_blob_client(_CURRENT).get_blob_properties()
        except ResourceNotFoundError:
            return ""
        return str((props.metadata or {}).get("version", ""))

    def current(self) -> IntelManifest | None:
        doc = self._read_json(_CURRENT)
        if not isinstance(doc, dict) or not doc.get("version"):
            return None
        return IntelManifest(str(doc["version"]), str(doc.get("updated_at", "")),
                             [dict(f) for f in doc.get("feeds") or [] if isinstance(f, dict)],
                             str(doc.get("index") or ""))

    def publish(self, manifest: IntelManifest) -> None:
        self._write_json(_CURRENT, asdict(manifest), {"version": manifest.version})

    # -- the compact index -------------------------------------------------------------------------
    @staticmethod
    def index_name(version: str) -> str:
        """The blob name of ``version``'s compact index in this build's file format: a build
        that reads another format finds no file of its own and builds one."""
        return f"index/{version}.v{FORMAT_VERSION}.tapintel"

    def put_index(self, version: str, data: bytes) -> str:
        """Store the compact index of ``version``; returns its blob name for the manifest."""
        name = self.index_name(version)
        self._container.upload_blob(
            name, data, overwrite=True, metadata={"version": version},
            content_settings=ContentSettings(content_type="application/octet-stream"),
        )
        return name

    def get_index(self, name: str) -> bytes | None:
        """The compact index blob in one read (None when it is gone)."""
        try:
            return bytes(self._container.download_blob(name, max_concurrency=2).readall())
        except ResourceNotFoundError:
            return None

    def prune_indexes(self, keep: set[str]) -> int:
        """Delete index blobs not in ``keep`` (the current and the previous version, which a
        reader may still be downloading); returns how many went."""
        gone = 0
        for blob in self._container.list_blobs(name_starts_with="index/"):
            if blob.name not in keep:
                try:
                    self._container.delete_blob(blob.name)
                    gone += 1
                except ResourceNotFoundError:
                    pass  # another refresh pruned it first
        return gone

    # -- feed health ------------------------------------------------------------------------------
    def put_status(self, statuses: list[FeedStatus]) -> None:
        self._write_json(_STATUS, {"feeds": [s.to_json() for s in statuses]}, {})

    def get_status(self) -> list[FeedStatus]:
        doc = self._read_json(_STATUS)
        if not isinstance(doc, dict):
            return []
        known = set(FeedStatus.__dataclass_fields__)
        return [FeedStatus(**{k: v for k, v in f.items() if k in known})
                for f in doc.get("feeds") or [] if isinstance(f, dict)]

    def _read_json(self, name: str) -> Any:
        try:
            return json.loads(self._container.download_blob(name).readall())
        except ResourceNotFoundError:
            return None
        except ValueError:
            return None  # a damaged document counts as absent; the next refresh rewrites it

    def _write_json(self, name: str, doc: Any, metadata: dict[str, str]) -> None:
        self._container.upload_blob(
            name, json.dumps(doc, sort_keys=True).encode(), overwrite=True, metadata=metadata,
            content_settings=ContentSettings(content_type="application/json"),
        )


def iso(when: datetime) -> str:
    return _keys.utc(when).isoformat()


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode()
