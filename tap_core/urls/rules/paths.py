"""Rules on what the link carries beyond its host: its own content (data:, javascript:),
other addresses in its parameters, files it downloads, login words in its path."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from tap_core.lookalike.brands import brand_owning
from tap_core.model.findings import Finding
from tap_core.parsing.domains import host_matches_domain
from tap_core.urls.platforms import site_of
from tap_core.urls.rules.parse import WEB, UrlContext, lists, rules


def data_uri(ctx: UrlContext) -> Finding | None:
    if ctx.scheme == "data":
        return rules()["data_uri"].finding(evidence=ctx.url[:80])
    return None


def javascript_uri(ctx: UrlContext) -> Finding | None:
    if ctx.scheme in ("javascript", "vbscript"):
        return rules()["javascript_uri"].finding(evidence=ctx.url[:80])
    return None


_EMBEDDED_URL = re.compile(r"(?:https?:|https?%3a)(?://|%2f%2f)", re.IGNORECASE)


def nested_target(value: str) -> str | None:
    """The web address a parameter value carries (plain or percent-encoded), or None."""
    text = value.strip()
    for _ in range(2):  # once more for double-encoded values
        if text.lower().startswith(("http%3a", "https%3a")):
            text = unquote(text)
    if text.lower().startswith(("http://", "https://")):
        return text
    return None


#: "http://" / "https://" in base64 (standard or URL-safe alphabet): a destination hidden in
#: the link so that filters reading parameters do not see it.
_BASE64_URL_RE = re.compile(r"aHR0c(?:HM6Ly|DovL)[A-Za-z0-9+/_-]*={0,2}")


def _base64_target(text: str) -> str | None:
    match = _BASE64_URL_RE.search(text)
    if not match:
        return None
    run = match.group(0).rstrip("=").replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    return decoded if decoded.startswith(("http://", "https://")) else None


def host_of(url: str) -> str:
    """The host ``url`` goes to (lower case, no trailing dot), or "" when it has none."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def nested_redirect(ctx: UrlContext) -> Finding | None:
    if ctx.scheme not in WEB or not ctx.host:
        return None
    hidden = _base64_target(ctx.path + "?" + ctx.query)
    if hidden:
        hidden_host = host_of(hidden)
        if hidden_host and site_of(hidden_host) != ctx.site:
            return rules()["nested_redirect"].finding(hidden[:200], "encoded", target=hidden_host)
    targets = [t for _key, value in parse_qsl(ctx.query) if (t := nested_target(value))]
    match = _EMBEDDED_URL.search(ctx.path, 1)
    if match:
        targets.append(unquote(ctx.path[match.start() :]))
    for target in targets:
        nested_host = host_of(target)
        if nested_host and site_of(nested_host) != ctx.site:
            return rules()["nested_redirect"].finding(evidence=target[:200], target=nested_host)
    return None


#: Extensions that, followed by a query string, are web applications (ISAPI, CGI) on old servers.
_SERVER_SIDE_EXTS = frozenset({"dll", "cgi", "exe"})


def dangerous_extension(ctx: UrlContext) -> Finding | None:
    if ctx.scheme not in WEB:
        return None
    exts = lists().extensions
    names = [unquote(ctx.path.rsplit("/", 1)[-1])]
    names.extend(v.rsplit("/", 1)[-1] for _k, v in parse_qsl(ctx.query) if "." in v and len(v) < 260)
    for name in names:
        name = name.strip().lower()
        if "." not in name:
            continue
        ext = name.rsplit(".", 1)[1]
        tier = exts.get(ext)
        if tier and ext in _SERVER_SIDE_EXTS and ctx.query and name == names[0].strip().lower():
            continue  # eBayISAPI.dll?ViewItem: a server-side handler answering a query, not a download
        if tier:
            return rules()["link_dangerous_extension"].finding(name[:120], tier, ext=ext)
    return None


_PATH_TOKENS = re.compile(r"[a-z0-9][a-z0-9-]*")


def credential_keywords_path(ctx: UrlContext, tenant_domains: Sequence[str] = ()) -> Finding | None:
    if not ctx.host or (not ctx.path.strip("/") and not ctx.query):
        return None
    if brand_owning(ctx.host) is not None or any(host_matches_domain(ctx.host, d) for d in tenant_domains):
        return None
    text = unquote(f"{ctx.path}?{ctx.query}").lower()
    words = lists().credential_words
    for token in _PATH_TOKENS.findall(text):
        for word in words:
            if token.startswith(word):
                return rules()["credential_keywords_path"].finding(evidence=token[:60], keyword=word)
    return None
