"""The one exclusion model for rewriting, scanning and clicking ("do not rewrite" list).

An entry is ``[scheme://]host[/path]`` with ``*`` wildcards:

* ``contoso.com`` — that host, any scheme, any path;
* ``*.contoso.com`` — contoso.com and every subdomain of it;
* ``contoso.com/help/*`` — paths under /help/ on that host (``*`` matches any run of
  characters, including ``/``, ``?`` and the query);
* ``https://portal.contoso.com/*`` — only over https.

Hosts compare case-insensitively in their ASCII (punycode) form; paths case-sensitively, as
servers treat them. An entry never matches by substring: ``contoso.com`` does not match
``evilcontoso.com`` nor ``contoso.com.evil.net``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tap_core.urls.normalize import host_to_ascii


class ExclusionError(ValueError):
    """An entry that cannot be understood; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class _Rule:
    entry: str
    scheme: str | None
    host: str
    subdomains: bool
    #: The path glob split at its "*"s ("/help/*" -> ("/help/", "")); None: any path.
    path: tuple[str, ...] | None


def _glob_match(parts: tuple[str, ...], target: str) -> bool:
    """``target`` matches the glob whose literal parts are ``parts`` ("*" between them matches
    any run). Linear: the first part is a prefix, the last a suffix, the others found left to
    right (the leftmost place is always the best one); a regex of ".*"s backtracked
    polynomially on a long hostile path ("/a*b*c*d" against 2,000 characters)."""
    if len(parts) == 1:
        return target == parts[0]
    first, *middle, last = parts
    if not target.startswith(first):
        return False
    pos = len(first)
    for part in middle:
        found = target.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    return len(target) - pos >= len(last) and target.endswith(last)


def _to_ascii_host(host: str) -> str:
    ascii_host = host_to_ascii(host)
    return ascii_host if ascii_host is not None else host.lower()


def _compile(entry: str) -> _Rule:
    text = entry.strip()
    if not text:
        raise ExclusionError("empty exclusion entry")
    scheme = None
    if "://" in text:
        scheme, text = text.split("://", 1)
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise ExclusionError(f"{entry!r}: only http:// or https:// may be given as a scheme")
    host, slash, path = text.partition("/")
    host = host.lower().rstrip(".")
    subdomains = host.startswith("*.")
    if subdomains:
        host = host[2:]
    if not host or "*" in host:
        raise ExclusionError(
            f"{entry!r}: a wildcard in the host may only be a leading '*.' (e.g. '*.contoso.com')"
        )
    path_glob = None
    if slash and path not in ("", "*"):
        path_glob = tuple(("/" + path).split("*"))
    return _Rule(entry, scheme, _to_ascii_host(host), subdomains, path_glob)


class UrlExclusions:
    """Compiled exclusion list; ``match(url)`` returns the entry that excludes ``url`` or None."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.rules = [_compile(e) for e in entries]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def match(self, url: str) -> str | None:
        if not self.rules:
            return None
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        host = (parts.hostname or "").lower().rstrip(".")
        if not host.isascii():  # callers pass normalised URLs; a raw one is read the same way
            host = _to_ascii_host(host)
        scheme = parts.scheme.lower()
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        for rule in self.rules:
            if rule.scheme and rule.scheme != scheme:
                continue
            if host != rule.host and not (rule.subdomains and host.endswith("." + rule.host)):
                continue
            if rule.path is not None and not _glob_match(rule.path, target):
                continue
            return rule.entry
        return None
