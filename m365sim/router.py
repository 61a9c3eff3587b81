"""Request/response model and the path router shared by direct calls and $batch sub-requests."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .effects import observed
from .errors import GraphError, bad_request

if TYPE_CHECKING:
    from .context import Ctx

_KEY_SEGMENT = re.compile(r"^(?P<name>[^()]+)\((?P<key>.*)\)$")


@dataclass
class GraphRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str
    request_id: str
    client_request_id: str
    in_batch: bool = False

    def json(self) -> Any:
        if not self.body.strip():
            raise bad_request("Empty Payload. JSON content expected.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request("Unable to read JSON request payload.") from exc

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise bad_request("Unable to read JSON request payload. A JSON object was expected.")
        return data

    def prefers(self, token: str) -> bool:
        prefer = self.headers.get("prefer", "").replace(" ", "").lower()
        return token.replace(" ", "").lower() in prefer

    @property
    def immutable_ids(self) -> bool:
        return self.prefers('IdType="ImmutableId"')

    def prefer_value(self, name: str) -> str | None:
        for part in self.headers.get("prefer", "").split(","):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == name.lower():
                return value.strip().strip('"')
        return None


@dataclass
class GraphResponse:
    status: int
    body: Any = None  # dict/list -> JSON; bytes/str -> raw with content_type
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Ctx"], Awaitable[GraphResponse]]


@dataclass
class Route:
    method: str
    segments: tuple[str, ...]
    template: str  # e.g. "/users/{id}/messages/{id}" (for stats)
    handler: Handler


def normalize_segments(path: str) -> list[str]:
    """Split a path, expanding OData key syntax (``mailFolders('inbox')``) and function-call
    syntax (``delta()``, ``microsoft.graph.move``) into plain segments."""
    segments: list[str] = []
    for raw in path.split("/"):
        if not raw:
            continue
        seg = raw
        if seg.lower().startswith("microsoft.graph."):
            seg = seg[len("microsoft.graph.") :]
        match = _KEY_SEGMENT.match(seg)
        if match:
            segments.append(match.group("name"))
            key = match.group("key").strip()
            if key:
                if len(key) >= 2 and key[0] == key[-1] == "'":
                    key = key[1:-1].replace("''", "'")
                segments.append(key)
            continue
        segments.append(seg)
    return segments


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        segments = tuple(seg if seg.startswith("{") else seg.lower() for seg in pattern.strip("/").split("/"))
        template = "/" + "/".join("{id}" if s.startswith("{") else s for s in pattern.strip("/").split("/"))
        # Every handler runs the chaos faults first and counts its mailbox effects (effects.py).
        handler = observed(method.upper(), template, handler)
        self.routes.append(Route(method.upper(), segments, template, handler))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        segments = normalize_segments(path)
        allowed: list[str] = []
        for route in self.routes:
            params = _match(route.segments, segments)
            if params is None:
                continue
            if route.method == method.upper():
                return route, params
            allowed.append(route.method)
        if allowed:
            raise GraphError(405, "MethodNotAllowed", f"The HTTP method '{method}' is not allowed.")
        unknown = segments[-1] if segments else ""
        raise bad_request(f"Resource not found for the segment '{unknown}'.")


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for expected, actual in zip(pattern, segments, strict=True):
        if expected.startswith("{"):
            params[expected[1:-1]] = actual
        elif expected != actual.lower():
            return None
    return params
