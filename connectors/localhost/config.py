"""``local.settings.json`` and ``host.json``: what the local host reads, with the Functions defaults."""

from __future__ import annotations

import json
import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PORT = 7071
_TIMESPAN = re.compile(r"^\s*(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*$")


class HostConfigError(ValueError):
    """host.json or local.settings.json is unreadable or holds a value the host cannot use."""


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan string (``hh:mm:ss``, ``d.hh:mm:ss``, fractional seconds allowed)."""
    match = _TIMESPAN.match(text)
    if match is None:
        raise HostConfigError(f"not a TimeSpan (expected hh:mm:ss or d.hh:mm:ss): {text!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` with the Functions defaults (batchSize 16, maxDequeueCount 5, ...)."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    #: Delay before a failed message becomes visible again (the host's default is zero).
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    #: Fetch the next batch when this few messages are still running (default: batchSize / 2).
    new_batch_threshold: int | None = None

    @property
    def threshold(self) -> int:
        return self.new_batch_threshold if self.new_batch_threshold is not None else self.batch_size // 2


@dataclass(frozen=True)
class HostJson:
    route_prefix: str = "api"
    queues: QueueOptions = field(default_factory=QueueOptions)
    #: Seconds a function may run; None means unlimited (``-1``). Consumption's default is 5 minutes.
    function_timeout: float | None = 300.0


def _object(data: Any, where: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HostConfigError(f"{where} must be a JSON object")
    return data


def _positive_int(value: Any, where: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise HostConfigError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _seconds(value: Any, where: str) -> float:
    if not isinstance(value, str):
        raise HostConfigError(f"{where} must be a TimeSpan string like \"00:00:30\", got {value!r}")
    try:
        return parse_timespan(value)
    except HostConfigError as exc:
        raise HostConfigError(f"{where}: {exc}") from None


def load_host_json(app_root: Path) -> HostJson:
    """Read ``host.json`` in the app root (missing file: all defaults)."""
    path = app_root / "host.json"
    if not path.exists():
        return HostJson()
    try:
        data = _object(json.loads(path.read_text(encoding="utf-8-sig")), str(path))
    except (OSError, json.JSONDecodeError) as exc:
        raise HostConfigError(f"cannot read {path}: {exc}") from exc
    extensions = _object(data.get("extensions"), "host.json extensions")
    http = _object(extensions.get("http"), "host.json extensions.http")
    prefix = http.get("routePrefix", "api")
    if not isinstance(prefix, str):
        raise HostConfigError("host.json extensions.http.routePrefix must be a string (\"\" for none)")
    q = _object(extensions.get("queues"), "host.json extensions.queues")
    defaults = QueueOptions()
    queues = QueueOptions(
        batch_size=_positive_int(q.get("batchSize", defaults.batch_size), "extensions.queues.batchSize"),
        max_dequeue_count=_positive_int(q.get("maxDequeueCount", defaults.max_dequeue_count),
                                        "extensions.queues.maxDequeueCount"),
        visibility_timeout=_seconds(q["visibilityTimeout"], "extensions.queues.visibilityTimeout")
        if "visibilityTimeout" in q else defaults.visibility_timeout,
        max_polling_interval=_seconds(q["maxPollingInterval"], "extensions.queues.maxPollingInterval")
        if "maxPollingInterval" in q else defaults.max_polling_interval,
        new_batch_threshold=_positive_int(q["newBatchThreshold"], "extensions.queues.newBatchThreshold",
                                          minimum=0) if "newBatchThreshold" in q else None,
    )
    timeout_value = data.get("functionTimeout", "00:05:00")
    timeout: float | None
    if timeout_value is None or str(timeout_value).strip() == "-1":
        timeout = None
    else:
        timeout = _seconds(timeout_value, "host.json functionTimeout")
    return HostJson(route_prefix=prefix.strip("/"), queues=queues, function_timeout=timeout)


@dataclass(frozen=True)
class LocalSettings:
    values: dict[str, str] = field(default_factory=dict)
    local_http_port: int | None = None


def load_local_settings(path: Path, *, required: bool = False) -> LocalSettings:
    """Read ``local.settings.json``; a missing file is fine unless it was named explicitly."""
    if not path.exists():
        if required:
            raise HostConfigError(f"settings file not found: {path}")
        return LocalSettings()
    try:
        data = _object(json.loads(path.read_text(encoding="utf-8-sig")), str(path))
    except (OSError, json.JSONDecodeError) as exc:
        raise HostConfigError(f"cannot read {path}: {exc}") from exc
    if data.get("IsEncrypted"):
        raise HostConfigError(
            f"{path} is encrypted (IsEncrypted: true); decrypt it with `func settings decrypt`"
        )
    values = _object(data.get("Values"), f"{path} Values")
    for key, value in values.items():
        if not isinstance(value, str | int | float | bool):
            raise HostConfigError(f"{path} Values.{key} must be a string")
    host = _object(data.get("Host"), f"{path} Host")
    port = host.get("LocalHttpPort")
    if port is not None:
        port = _positive_int(port, f"{path} Host.LocalHttpPort")
    return LocalSettings({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}, port)


def apply_values(values: dict[str, str], environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Put settings into the environment unless already set (the Functions host rule); return names set."""
    env = os.environ if environ is None else environ
    applied = [k for k in values if k not in env]
    for key in applied:
        env[key] = values[key]
    return applied
