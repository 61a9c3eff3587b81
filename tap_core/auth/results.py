"""Sender authentication as the receiving system recorded it: ``Authentication-Results``
(RFC 8601, with the receiver's ``arc=`` verdict on the ARC chain) and, in Microsoft 365, the
``X-MS-Exchange-Organization-AuthAs`` stamp.

Only the topmost Authentication-Results header is trusted by default: it is the one the
receiving system added; those below it came with the message and anyone could have written
them. Give ``authserv_ids`` to pick the topmost header of a known receiving server instead.

The parser reads hostile input: it is linear in the header's length, skips what it
cannot read and never raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from tap_core.model.message import Message
from tap_core.parsing.domains import host_matches_domain

Direction = Literal["internal", "external", "unknown"]

#: Header values longer than this are read up to it (no real header comes near).
_MAX_VALUE = 64 * 1024


@dataclass(frozen=True, slots=True)
class MethodResult:
    """One ``method=result`` of an Authentication-Results header, with its properties."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuthResults:
    authserv_id: str
    results: tuple[MethodResult, ...]

    def of(self, method: str) -> list[MethodResult]:
        return [r for r in self.results if r.method == method]

    def verdict(self, method: str) -> str:
        """The method's result ("pass" if any of several passed), or "" when not reported."""
        found = [r.result for r in self.of(method)]
        if not found:
            return ""
        return "pass" if "pass" in found else found[0]


def _strip_comments(value: str) -> str:
    """Remove RFC 5322 comments (nested parentheses), keeping quoted strings intact."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if ch == '"' and depth == 0:
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
            continue
        elif not quoted and ch == ")" and depth:
            depth -= 1
            continue
        if depth == 0:
            out.append(ch)
    return "".join(out)


def _split_unquoted(value: str, sep: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def parse_authentication_results(value: str) -> AuthResults:
    """Parse one header value; unknown or malformed parts are skipped, never raised."""
    parts = [p.strip() for p in _split_unquoted(_strip_comments(value[:_MAX_VALUE]), ";")]
    head = parts[0].split() if parts else []
    # "authserv-id [version]"; Microsoft sometimes starts directly with "spf=..." (no id).
    authserv_id = head[0].lower() if head and "=" not in head[0] else ""
    if not authserv_id and parts:
        parts = ["", *parts]
    results: list[MethodResult] = []
    for part in parts[1:]:
        words = part.split()
        if not words or "=" not in words[0]:
            continue  # "none", or garbage
        method, _, result = words[0].partition("=")
        props: dict[str, str] = {}
        for word in words[1:]:
            key, eq, val = word.partition("=")
            if eq:
                props[key.lower()] = val.strip('"').lower()
        results.append(MethodResult(method.split("/")[0].lower(), result.strip('"').lower(), props))
    return AuthResults(authserv_id, tuple(results))


def receiver_results(message: Message, authserv_ids: Sequence[str] = ()) -> AuthResults | None:
    """The trusted Authentication-Results of ``message`` (topmost, or topmost of a known id)."""
    values = message.header_values("Authentication-Results")
    if not values:
        return None
    if authserv_ids:
        wanted = {a.lower() for a in authserv_ids}
        for value in values:
            res = parse_authentication_results(value)
            if res.authserv_id in wanted:
                return res
        return None
    return parse_authentication_results(values[0])


def authentication_problems(results: AuthResults) -> list[str]:
    """What is wrong with the sender's authentication, in words (empty when DMARC passed)."""
    dmarc = results.verdict("dmarc")
    if dmarc == "pass":
        return []
    problems: list[str] = []
    if dmarc in ("fail", "permerror", "temperror"):
        problems.append(f"dmarc={dmarc}")
    spf, dkim = results.verdict("spf"), results.verdict("dkim")
    if spf in ("fail", "softfail", "permerror"):
        problems.append(f"spf={spf}")
    if dkim in ("fail", "permerror"):
        problems.append(f"dkim={dkim}")
    compauth = results.verdict("compauth")
    if compauth == "fail":
        problems.append("compauth=fail")
    if not problems and spf != "pass" and dkim != "pass" and dmarc not in ("bestguesspass",):
        problems.append(f"no SPF, DKIM or DMARC pass (spf={spf or 'none'}, dkim={dkim or 'none'})")
    return problems


def has_failure(results: AuthResults) -> bool:
    """True when a check actually failed (not merely "none")."""
    return any(not p.startswith("no ") for p in authentication_problems(results))


def direction(message: Message, internal_domains: Sequence[str]) -> Direction:
    """Whether the message came from inside the tenant, as Exchange Online stamped it."""
    for name in ("X-MS-Exchange-Organization-AuthAs", "X-MS-Exchange-CrossTenant-AuthAs"):
        value = (message.header(name) or "").strip().lower()
        if value == "internal":
            return "internal"
        if value in ("anonymous", "partner", "external"):
            return "external"
    sender = message.from_address.domain if message.from_address else ""
    if sender and not any(host_matches_domain(sender, d) for d in internal_domains):
        return "external"
    return "unknown"
