"""Change-notification subscriptions: the resource, its rules, its JSON."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .clock import iso_precise
from .errors import GraphError, bad_request
from .router import normalize_segments

CHANGE_TYPES = {"created", "updated", "deleted"}


@dataclass
class Subscription:
    id: str
    tenant_id: str
    app_id: str
    creator_id: str
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    user_id: str
    folder_id: str | None  # None = every folder (users/{id}/messages)
    immutable_ids: bool
    latest_tls: str = "v1_2"
    needs_reauthorization: bool = False

    def change_type_text(self) -> str:
        order = ["created", "updated", "deleted"]
        return ",".join(t for t in order if t in self.change_types)

    def as_json(self, base_url: str) -> dict[str, Any]:
        return {
            "@odata.context": f"{base_url}/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": self.change_type_text(),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": iso_precise(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": None,
            "latestSupportedTlsVersion": self.latest_tls,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


@dataclass(frozen=True)
class ParsedResource:
    user_ref: str
    folder_ref: str | None


def parse_resource(resource: str) -> ParsedResource:
    """Accept the message resources Graph supports for app-only subscriptions."""
    segments = normalize_segments(resource.split("?", 1)[0])
    lowered = [s.lower() for s in segments]
    if lowered and lowered[0] == "me":
        raise GraphError(
            400,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: BadRequest; Reason: /me request is only "
            "valid with delegated authentication flow.]",
        )
    if len(segments) == 3 and lowered[0] == "users" and lowered[2] == "messages":
        return ParsedResource(segments[1], None)
    if (
        len(segments) == 5
        and lowered[0] == "users"
        and lowered[2] == "mailfolders"
        and lowered[4] == "messages"
    ):
        return ParsedResource(segments[1], segments[3])
    raise GraphError(
        400,
        "ExtensionError",
        f"Operation: Create; Exception: [Status Code: BadRequest; Reason: The resource "
        f"'{resource}' is not supported. Use users/{{id}}/messages or "
        f"users/{{id}}/mailFolders('{{folder}}')/messages.]",
    )


def parse_change_types(value: Any) -> frozenset[str]:
    if not isinstance(value, str) or not value.strip():
        raise bad_request("changeType is required.", "InvalidRequest")
    types = {t.strip().lower() for t in value.split(",") if t.strip()}
    unknown = types - CHANGE_TYPES
    if unknown:
        raise bad_request(
            f"'{','.join(sorted(unknown))}' is not a valid change type. Valid values are "
            "created, updated, deleted.",
            "InvalidRequest",
        )
    return frozenset(types)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_notification_url(url: Any, prop: str, allow_http_loopback: bool, allow_remote: bool) -> str:
    if not isinstance(url, str) or not url:
        raise bad_request(f"{prop} is required.", "InvalidRequest")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise bad_request(f"Invalid {prop}: '{url}'.", "InvalidRequest")
    loopback = is_loopback(parts.hostname)
    if parts.scheme == "http" and not (loopback and allow_http_loopback):
        raise GraphError(
            400,
            "ValidationError",
            f"The {prop} must be an https URL (http is only allowed on loopback here).",
        )
    if not loopback and not allow_remote:
        raise GraphError(
            400,
            "ValidationError",
            f"The simulator only reaches loopback endpoints; {prop} host '{parts.hostname}' refused.",
        )
    return url
