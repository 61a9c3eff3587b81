"""The RDAP bootstrap registry for DNS (RFC 9224): which server answers for which TLD.

The IANA file ships in ``data/dns.json``; ``TAP365_RDAP_BOOTSTRAP`` names another file in the same
format (tests point it at the simulated registry). Lookup is the longest match on the domain's
labels (an entry for ``co.uk`` wins over ``uk``).

Server URLs must be https. Plain http is allowed only for loopback hosts (127.0.0.0/8, ::1,
``localhost``), which tests use. The IANA file lists a few servers over plain http only (ccTLDs
that never set up TLS): such URLs are refused -- never used -- and their TLDs answer "unknown"
with the reason; a URL that is not http(s) at all, carries credentials, or is not a URL, and a
file that is not in the RFC 9224 shape, are refused at load with :class:`BootstrapError`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("tap365.rdap")

#: A bootstrap file larger than this is not a bootstrap file (IANA's is about 70 kB).
MAX_BOOTSTRAP_BYTES = 8 * 1024 * 1024


class BootstrapError(ValueError):
    """The bootstrap file cannot be used (the message says which file and why)."""


@dataclass(frozen=True, slots=True)
class Server:
    """One RDAP service: its base URL (ending in ``/``) and whether plain http is allowed."""

    base_url: str
    host: str
    #: True for a plain-http loopback server (tests): redirects may stay on loopback http.
    loopback_http: bool = False


@dataclass(frozen=True)
class Bootstrap:
    #: TLD or suffix (lower case, A-labels) -> the server that answers for it.
    servers: dict[str, Server]
    #: Suffix -> why it has no usable server (its only URLs were refused).
    refused: dict[str, str] = field(default_factory=dict)
    publication: str = ""
    source: str = ""

    def server_for(self, domain: str) -> Server | None:
        """The server of the longest matching suffix of ``domain`` (lower case, no trailing dot)."""
        labels = domain.split(".")
        for i in range(len(labels)):
            found = self.servers.get(".".join(labels[i:]))
            if found is not None:
                return found
        return None

    def why_none(self, domain: str) -> str:
        """The reason ``domain`` has no server, for the verdict."""
        labels = domain.split(".")
        for i in range(len(labels)):
            reason = self.refused.get(".".join(labels[i:]))
            if reason:
                return reason
        return f"no RDAP server for .{labels[-1]}"


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, where: str) -> Server | None:
    """A usable server for ``url``, or None for plain http off loopback (refused, never used).
    Raises :class:`BootstrapError` for what is not an http(s) URL at all."""
    if not isinstance(url, str) or not url:
        raise BootstrapError(f"{where}: a server URL must be a non-empty string, not {url!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as error:
        raise BootstrapError(f"{where}: {url!r} is not a URL ({error})") from None
    if parts.scheme not in ("https", "http") or not host:
        raise BootstrapError(f"{where}: {url!r} is not an https URL")
    if parts.username is not None or parts.password is not None:
        raise BootstrapError(f"{where}: {url!r} carries credentials; server URLs may not")
    if parts.query or parts.fragment:
        raise BootstrapError(f"{where}: {url!r} has a query or fragment; a base URL may not")
    base = url if url.endswith("/") else url + "/"
    if parts.scheme == "https":
        return Server(base, host.lower())
    if is_loopback_host(host):
        return Server(base, host.lower(), loopback_http=True)
    return None


def parse_bootstrap(document: Any, *, source: str) -> Bootstrap:
    """Validate an RFC 9224 document and index it by suffix."""
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise BootstrapError(f"{source}: not an RDAP bootstrap file (no \"services\" list)")
    servers: dict[str, Server] = {}
    refused: dict[str, str] = {}
    for index, service in enumerate(document["services"]):
        where = f"{source}: services[{index}]"
        if (not isinstance(service, list) or len(service) != 2
                or not all(isinstance(part, list) for part in service)):
            raise BootstrapError(f"{where} is not a [[entries...], [urls...]] pair")
        entries, urls = service
        chosen: Server | None = None
        plain: list[str] = []
        for url in urls:
            checked = check_url(url, where=where)
            if checked is None:
                plain.append(url)
            elif chosen is None or (chosen.loopback_http and not checked.loopback_http):
                chosen = checked  # RFC 9224: the client picks; https first, then the order given
        for entry in entries:
            if not isinstance(entry, str) or not entry.strip(". ") or " " in entry:
                raise BootstrapError(f"{where}: {entry!r} is not a domain label")
            suffix = entry.strip().strip(".").lower()
            if chosen is not None:
                servers[suffix] = chosen
            elif plain:
                refused[suffix] = f"no https RDAP server for .{suffix} (plain http refused: {plain[0]})"
    if not servers:
        raise BootstrapError(f"{source}: no usable (https or loopback) RDAP server in the file")
    if refused:
        log.info("RDAP bootstrap %s: %d TLD(s) have plain-http servers only and get no lookups: %s",
                    source, len(refused), ", ".join(sorted(refused)))
    publication = document.get("publication")
    return Bootstrap(servers, refused, publication if isinstance(publication, str) else "", source)


def load_bootstrap(path: str | Path | None = None) -> Bootstrap:
    """The file at ``path`` (``TAP365_RDAP_BOOTSTRAP``), or the shipped IANA file when empty."""
    if path:
        source = str(path)
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_BOOTSTRAP_BYTES + 1)
        except OSError as error:
            raise BootstrapError(f"{source}: cannot read the RDAP bootstrap file ({error})") from None
    else:
        source = "shipped IANA dns.json"
        raw = resources.files("connectors.rdap").joinpath("data/dns.json").read_bytes()
    if len(raw) > MAX_BOOTSTRAP_BYTES:
        raise BootstrapError(f"{source}: larger than {MAX_BOOTSTRAP_BYTES} bytes; not a bootstrap file")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise BootstrapError(f"{source}: not JSON ({error})") from None
    return parse_bootstrap(document, source=source)
