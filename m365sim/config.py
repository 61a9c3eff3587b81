"""Runtime switches of the simulator, changeable through ``POST /_sim/config`` or the seed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass
class SimConfig:
    # Graph rules that later tests rely on; each can be turned off to test a fallback path.
    enforce_permissions: bool = True
    enforce_sensitive_properties: bool = True
    # Without the Prefer header only REST ids resolve (real Graph may be laxer; strict is safer).
    strict_id_types: bool = True
    # $value after a body/subject PATCH: Exchange converts the stored item to MIME on read,
    # so the patched body shows up; False keeps the originally delivered bytes.
    mime_reflects_patches: bool = True
    # Exchange rewrites HTML bodies into its own dialect (adds a <head> with a Content-Type
    # meta tag), so a body read back differs from the one PATCHed. Off by default: bodies are
    # returned exactly as stored; turn on to test clients against that normalisation.
    normalize_html_bodies: bool = False
    # Exchange keeps properties, not MIME: $value is regenerated (new boundaries, re-encoded
    # text parts; a DKIM body hash usually no longer verifies). Off by default: $value returns
    # the delivered bytes; turn on to test code that must cope with the regeneration.
    regenerate_mime_on_read: bool = False

    # Subscriptions and change notifications.
    max_subscription_minutes: int = 4230
    client_state_max_length: int = 128
    allow_http_loopback_notification_url: bool = True
    # No network beyond loopback: notification URLs on other hosts are refused unless enabled.
    allow_non_loopback_notification_url: bool = False
    # "auto": ids in notifications follow the Prefer header used when the subscription was
    # created (as Graph does); "rest" / "immutable" force one kind.
    notification_id_type: str = "auto"
    validation_timeout_seconds: float = 10.0
    notification_timeout_seconds: float = 3.0
    slow_notification_seconds: float = 2.9
    retry_initial_seconds: float = 30.0
    retry_max_interval_seconds: float = 3600.0
    retry_window_seconds: float = 4 * 3600.0
    # Multiplies retry intervals/window and the slow-endpoint windows (tests use ~0.001).
    notification_time_scale: float = 1.0
    # Graph throttles endpoints with >10 % slow responses and drops at >15 %.
    slow_endpoint_policy: bool = True
    slow_endpoint_window_seconds: float = 600.0
    slow_endpoint_min_samples: int = 10
    slow_endpoint_penalty_seconds: float = 600.0

    # Throttling: Outlook's 10,000 requests per 10 minutes per app per mailbox, 4 concurrent.
    throttle_budget: int = 10000
    throttle_window_seconds: float = 600.0
    max_concurrent_requests: int = 4
    # "app": the limit spans all mailboxes of an app (the brief); "mailbox": per app per mailbox
    # (what Exchange Online documents as MailboxConcurrency).
    concurrency_scope: str = "app"
    concurrency_retry_after_seconds: int = 1

    max_batch_requests: int = 20
    token_lifetime_seconds: int = 3599
    # Admin consent (GET /{tenant}/adminconsent) is approved unless this is False.
    admin_consent_approves: bool = True

    def update(self, values: dict[str, Any]) -> None:
        """Apply all values or none (validated on a copy first)."""
        trial = replace(self)
        trial._apply(values)
        for f in fields(self):
            setattr(self, f.name, getattr(trial, f.name))

    def _apply(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown config key: {key}")
            current = getattr(self, key)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be a boolean")
            elif isinstance(current, int) and not isinstance(current, bool):
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"{key} must be an integer")
            elif isinstance(current, float):
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValueError(f"{key} must be a number")
                value = float(value)
            elif isinstance(current, str) and not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            setattr(self, key, value)
        if self.notification_id_type not in {"auto", "rest", "immutable"}:
            raise ValueError("notification_id_type must be auto, rest or immutable")
        if self.concurrency_scope not in {"app", "mailbox"}:
            raise ValueError("concurrency_scope must be app or mailbox")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
