"""Domain names as registries read them, the configured domains, and the RFC 9083 objects."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: What a configured domain does when ``/domain/<name>`` asks for it.
BEHAVIOURS = frozenset(
    {"ok", "not_found", "slow", "error", "garbage", "no_events", "bad_date", "ratelimit", "huge",
     "huge_chunked", "redirect"}
)
MAX_LOCATION = 2048
MAX_NAME = 253  # RFC 1035: longer names do not exist, so a query for one is malformed
MAX_DELAY_SECONDS = 600.0
MAX_HUGE_BYTES = 64 * 1024 * 1024
DEFAULT_HUGE_BYTES = 5 * 1024 * 1024
# Default registrations of unconfigured domains lie this many days back (inclusive).
DEFAULT_AGE_DAYS = (400, 9000)
# A label in A-label form (LDH, "xn--" allowed): what an RDAP domain query may carry.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
BAD_DATE = "2025-02-31T25:61:00Z"  # shaped like an RFC 3339 date, but no such instant


class BadRequest(ValueError):
    """The request is malformed; the text says why (it goes into a 400 error object)."""


def normalize(name: str) -> str:
    """The lookup key of a domain name: lower case, no trailing dot. Raises BadRequest for
    anything that is not an ASCII LDH name (U-labels, path tricks, over-long names)."""
    key = name.lower()
    if key.endswith("."):
        key = key[:-1]
    if not key:
        raise BadRequest("empty domain name")
    if len(key) > MAX_NAME:
        raise BadRequest(f"domain name longer than {MAX_NAME} characters")
    if not key.isascii():
        raise BadRequest("domain name is not ASCII: send IDNs as A-labels (xn--)")
    for label in key.split("."):
        if not _LABEL.fullmatch(label):
            raise BadRequest(f"not a valid LDH label: {label[:70]!r}")
    return key


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(f"not an RFC 3339 date-time: {text[:60]!r}") from None
    if moment.tzinfo is None:
        raise BadRequest(f"RFC 3339 date-time without an offset: {text[:60]!r}")
    return moment.astimezone(UTC)


def _digest(name: str) -> bytes:
    return hashlib.sha256(name.encode("ascii")).digest()


def default_registration(name: str, now: datetime) -> datetime:
    """A stable age for a domain nobody configured: days from sha256 of the name, so every run
    sees the same ages; midnight-based so the date stays put within a day."""
    low, high = DEFAULT_AGE_DAYS
    digest = _digest(name)
    days = low + int.from_bytes(digest[:8], "big") % (high - low + 1)
    seconds = int.from_bytes(digest[8:12], "big") % 86400
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=days) + timedelta(seconds=seconds)


@dataclass(frozen=True)
class DomainConfig:
    """What ``PUT /_sim/domains/<name>`` set for one domain."""

    registered: datetime | None = None
    registered_days_ago: float | None = None
    behaviour: str = "ok"
    delay_seconds: float = 10.0
    status: int = 503
    retry_after: int = 30
    size_bytes: int = DEFAULT_HUGE_BYTES
    #: ``redirect``: where to (RFC 7480 lets a registry redirect a query), with ``status``.
    location: str = ""

    @classmethod
    def from_json(cls, body: Any) -> DomainConfig:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        known = {"registered", "registered_days_ago", "behaviour", "delay_seconds", "status",
                 "retry_after", "size_bytes", "location"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise BadRequest(f"unknown fields {unknown}; known: {sorted(known)}")
        if body.get("registered") is not None and body.get("registered_days_ago") is not None:
            raise BadRequest("give registered or registered_days_ago, not both")
        registered = body.get("registered")
        if registered is not None and not isinstance(registered, str):
            raise BadRequest("registered must be an RFC 3339 string")
        behaviour = body.get("behaviour", "ok")
        if behaviour not in BEHAVIOURS:
            raise BadRequest(f"behaviour must be one of {sorted(BEHAVIOURS)}")
        location = body.get("location", "")
        if not isinstance(location, str) or len(location) > MAX_LOCATION:
            raise BadRequest(f"location must be a URL of at most {MAX_LOCATION} characters")
        if behaviour == "redirect" and not location.startswith(("http://", "https://")):
            raise BadRequest("behaviour redirect needs location, an http(s) URL")
        default_status = 302 if behaviour == "redirect" else 503
        return cls(
            registered=parse_rfc3339(registered) if registered is not None else None,
            registered_days_ago=_number(body, "registered_days_ago", None, 0, 100_000),
            behaviour=behaviour,
            delay_seconds=_number(body, "delay_seconds", 10.0, 0, MAX_DELAY_SECONDS) or 0.0,
            status=int(_number(body, "status", default_status, 100, 599, integer=True) or default_status),
            retry_after=int(_number(body, "retry_after", 30, 0, 86400, integer=True) or 0),
            size_bytes=int(_number(body, "size_bytes", DEFAULT_HUGE_BYTES, 1024, MAX_HUGE_BYTES,
                                   integer=True) or DEFAULT_HUGE_BYTES),
            location=location,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"behaviour": self.behaviour}
        if self.registered is not None:
            out["registered"] = rfc3339(self.registered)
        if self.registered_days_ago is not None:
            out["registered_days_ago"] = self.registered_days_ago
        out.update(delay_seconds=self.delay_seconds, status=self.status, retry_after=self.retry_after,
                   size_bytes=self.size_bytes)
        if self.location:
            out["location"] = self.location
        return out

    def registration(self, name: str, now: datetime) -> datetime:
        if self.registered is not None:
            return self.registered
        if self.registered_days_ago is not None:
            return now - timedelta(days=self.registered_days_ago)
        return default_registration(name, now)


def _number(body: dict[str, Any], key: str, default: float | None, low: float, high: float,
            integer: bool = False) -> float | None:
    value = body.get(key)
    if value is None:
        return default
    # bool is an int in Python; true/false is no number of days.
    numeric = isinstance(value, int) or (isinstance(value, float) and not integer)
    if isinstance(value, bool) or not numeric:
        raise BadRequest(f"{key} must be {'an integer' if integer else 'a number'}")
    if not low <= value <= high:
        raise BadRequest(f"{key} must be between {low:g} and {high:g}")
    return float(value)


# RFC 9083 objects ----------------------------------------------------------------------------

RDAP_TYPE = "application/rdap+json"
CONFORMANCE = ["rdap_level_0"]
_VERISIGN_TLDS = frozenset({"com", "net"})  # they answer ldhName in upper case; PIR and most others lower


def error_object(code: int, title: str, description: str) -> dict[str, Any]:
    return {"rdapConformance": CONFORMANCE, "errorCode": code, "title": title, "description": [description]}


def help_object(base_url: str) -> dict[str, Any]:
    return {
        "rdapConformance": CONFORMANCE,
        "notices": [
            {
                "title": "rdapsim help",
                "description": [
                    "A simulated RDAP service for tests. Query GET /domain/<name>.",
                    "Configure domains through the /_sim control API (see rdapsim/README.md).",
                ],
                "links": [{"value": f"{base_url}help", "rel": "self", "href": f"{base_url}help",
                           "type": RDAP_TYPE}],
            }
        ],
    }


def _notices(base_url: str) -> list[dict[str, Any]]:
    return [
        {
            "title": "Terms of Use",
            "description": ["Simulated registration data for tests; none of it is real."],
            "links": [{"value": f"{base_url}help", "rel": "alternate", "href": f"{base_url}help",
                       "type": RDAP_TYPE}],
        },
        {
            "title": "Status Codes",
            "description": ["For more information on domain status codes, please visit https://icann.org/epp"],
            "links": [{"value": "https://icann.org/epp", "rel": "alternate", "href": "https://icann.org/epp",
                       "type": "text/html"}],
        },
    ]


def _registrar(digest: bytes) -> dict[str, Any]:
    iana_id = str(1000 + int.from_bytes(digest[12:14], "big") % 3000)
    return {
        "objectClassName": "entity",
        "handle": iana_id,
        "roles": ["registrar"],
        "publicIds": [{"type": "IANA Registrar ID", "identifier": iana_id}],
        "vcardArray": ["vcard", [["version", {}, "text", "4.0"],
                                 ["fn", {}, "text", f"Simulated Registrar {iana_id}, Inc."]]],
        "entities": [{
            "objectClassName": "entity",
            "roles": ["abuse"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", ""],
                                     ["tel", {"type": "voice"}, "uri", "tel:+1.5555550100"],
                                     ["email", {}, "text", "abuse@registrar.invalid"]]],
        }],
    }


def domain_object(name: str, registration: datetime, now: datetime, base_url: str,
                  behaviour: str = "ok") -> dict[str, Any]:
    """The answer a registry such as Verisign (.com/.net) or PIR (.org) gives for a domain."""
    digest = _digest(name)
    tld = name.rsplit(".", 1)[-1]
    ldh = name.upper() if tld in _VERISIGN_TLDS else name
    suffix = "VRSN" if tld in _VERISIGN_TLDS else "SIM"
    handle = f"{int.from_bytes(digest[:5], 'big')}_DOMAIN_{tld.upper()}-{suffix}"
    years = max(1, (now - registration).days // 365 + 1)  # the next anniversary after now
    try:
        expiration = registration.replace(year=min(9999, registration.year + years))
    except ValueError:  # registered on 29 February
        expiration = registration + timedelta(days=365 * years)
    changed = max(registration, now - timedelta(days=int.from_bytes(digest[14:16], "big") % 300))
    young = (now - registration) < timedelta(days=5)  # the EPP add grace period
    events: list[dict[str, Any]]
    if behaviour == "no_events":
        # As some ccTLD registries (DENIC) answer: no registration or expiration event at all.
        events = [{"eventAction": "last changed", "eventDate": rfc3339(changed)}]
    else:
        events = [
            {"eventAction": "registration",
             "eventDate": BAD_DATE if behaviour == "bad_date" else rfc3339(registration)},
            {"eventAction": "expiration", "eventDate": rfc3339(expiration)},
            {"eventAction": "last changed", "eventDate": rfc3339(changed)},
            {"eventAction": "last update of RDAP database", "eventDate": rfc3339(now)},
        ]
    ns_host = f"ns{digest[16] % 90 + 1}.simulated-dns.test"
    obj: dict[str, Any] = {
        "objectClassName": "domain",
        "handle": handle,
        "ldhName": ldh,
        "links": [{"value": f"{base_url}domain/{name}", "rel": "self", "href": f"{base_url}domain/{name}",
                   "type": RDAP_TYPE}],
        "status": ["active", "add period"] if young else
                  ["client delete prohibited", "client transfer prohibited", "client update prohibited"],
        "entities": [_registrar(digest)],
        "events": events,
        "secureDNS": {"delegationSigned": False},
        "nameservers": [
            {"objectClassName": "nameserver", "ldhName": (h.upper() if ldh.isupper() else h)}
            for h in (ns_host, ns_host.replace("ns", "ns-b", 1))
        ],
        "rdapConformance": [*CONFORMANCE, "icann_rdap_response_profile_0",
                            "icann_rdap_technical_implementation_guide_0"],
        "notices": _notices(base_url),
    }
    if "xn--" in name:
        try:
            obj["unicodeName"] = name.encode("ascii").decode("idna")
        except UnicodeError:  # IDNA2008-only labels the stdlib's IDNA2003 codec refuses
            pass
    return obj


def huge_body(name: str, registration: datetime, now: datetime, base_url: str, size: int) -> bytes:
    """A valid domain object padded with remarks to at least ``size`` bytes."""
    obj = domain_object(name, registration, now, base_url)
    line = "This remark pads the answer to test a client's size limit. " * 16
    lines = size // (len(line) + 3) + 1
    obj["remarks"] = [{"title": "Padding", "description": [line] * lines}]
    return json.dumps(obj).encode("utf-8")
