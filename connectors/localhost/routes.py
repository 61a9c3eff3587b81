"""Functions (ASP.NET Core) route templates: ``{name}``, ``{name:int}``, ``{name?}``, ``{name=default}``,
``{*rest}``, literal segments matched case-insensitively, under the ``routePrefix``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from connectors.localhost.config import HostConfigError

# Constraints whose value can be checked with a regular expression (the common ASP.NET ones).
_CONSTRAINTS: dict[str, str] = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": r"\{?[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}\}?",
    "double": r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?",
    "float": r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?",
    "decimal": r"-?(?:\d+\.?\d*|\.\d+)",
    "datetime": r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?",
}
_PARAM = re.compile(r"^\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)((?::[^:?=}]+(?:\([^)]*\))?)*)(\?|=[^}]*)?\}$")
_LENGTH = re.compile(r"^(minlength|maxlength|length|min|max)\((\d+)(?:,(\d+))?\)$")


def decode_path(raw: str) -> str:
    """Percent-decode a path as Kestrel does for route values: everything except ``%2F`` (an encoded
    slash stays ``%2F``, so it can never look like a segment boundary)."""
    return unquote(re.sub(r"%2[fF]", "%252F", raw))


class RouteError(HostConfigError):
    """A route template the local host cannot interpret."""


@dataclass(frozen=True)
class _Param:
    name: str
    checks: tuple[str, ...]  # constraint texts, e.g. ("int",) or ("minlength(3)",)
    optional: bool
    default: str | None
    catch_all: bool


def _check(value: str, constraint: str) -> bool:
    pattern = _CONSTRAINTS.get(constraint.lower())
    if pattern is not None:
        return re.fullmatch(pattern, value) is not None
    if constraint.startswith("regex(") and constraint.endswith(")"):
        return re.search(constraint[6:-1], value) is not None
    match = _LENGTH.match(constraint.lower())
    if match is None:
        raise RouteError(f"unsupported route constraint {constraint!r}")
    kind, a, b = match.group(1), int(match.group(2)), match.group(3)
    if kind == "minlength":
        return len(value) >= a
    if kind == "maxlength":
        return len(value) <= a
    if kind == "length":
        return a <= len(value) <= int(b) if b else len(value) == a
    if not re.fullmatch(r"-?\d+", value):
        return False
    return int(value) >= a if kind == "min" else int(value) <= a


class RouteTemplate:
    """One compiled template; :meth:`match` returns the route params or None."""

    def __init__(self, template: str, prefix: str = "") -> None:
        self.template = template
        full = "/".join(part for part in (prefix.strip("/"), template.strip("/")) if part)
        self.segments: list[str | _Param] = []
        for segment in full.split("/") if full else []:
            if segment.startswith("{") and segment.endswith("}"):
                self.segments.append(self._param(segment))
            elif "{" in segment or "}" in segment:
                raise RouteError(
                    f"route {template!r}: segment {segment!r} mixes text and parameters; "
                    "the local host supports one parameter per segment"
                )
            else:
                self.segments.append(segment)
        for i, seg in enumerate(self.segments):
            if isinstance(seg, _Param) and seg.catch_all and i != len(self.segments) - 1:
                raise RouteError(f"route {template!r}: a catch-all {{*{seg.name}}} must be the last segment")
        # Precedence as in ASP.NET: literals before constrained params before params before catch-alls.
        self.precedence = tuple(self._rank(seg) for seg in self.segments)
        for check in (c for seg in self.segments if isinstance(seg, _Param) for c in seg.checks):
            _check("0", check)  # fail at start on an unknown constraint, not at the first request

    def _param(self, segment: str) -> _Param:
        match = _PARAM.match(segment)
        if match is None:
            raise RouteError(f"route {self.template!r}: cannot parse parameter {segment!r}")
        stars, name, constraints, tail = match.groups()
        checks = tuple(c for c in re.findall(r":([^:]+)", constraints or ""))
        optional = tail == "?" or bool(stars)
        default = tail[1:] if tail and tail.startswith("=") else None
        return _Param(name, checks, optional or default is not None, default, bool(stars))

    @staticmethod
    def _rank(seg: str | _Param) -> int:
        if isinstance(seg, str):
            return 0
        if seg.catch_all:
            return 4
        return 1 if seg.checks else 3 if seg.optional else 2

    def match(self, path: str) -> dict[str, str] | None:
        """Route params for a request path (still percent-encoded), or None if it does not match."""
        parts = [p for p in path.strip("/").split("/")] if path.strip("/") else []
        params: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if isinstance(seg, _Param) and seg.catch_all:
                rest = "/".join(parts[i:])
                if rest:
                    params[seg.name] = decode_path(rest)
                elif seg.default is not None:
                    params[seg.name] = seg.default
                if rest and not all(_check(params[seg.name], c) for c in seg.checks):
                    return None
                return params
            if i >= len(parts):
                if isinstance(seg, _Param) and seg.optional:
                    if seg.default is not None:
                        params[seg.name] = seg.default
                    continue
                return None
            raw = parts[i]
            if isinstance(seg, str):
                if decode_path(raw).lower() != seg.lower():
                    return None
                continue
            value = decode_path(raw)
            if not value or not all(_check(value, c) for c in seg.checks):
                return None
            params[seg.name] = value
        return params if len(parts) <= len(self.segments) else None
