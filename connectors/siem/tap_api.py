"""A pull API compatible with Proofpoint TAP's SIEM API v2, so SIEM connectors built for it read
tap365 unchanged.

Endpoints (under ``/api/v2/siem/``): ``all``, ``clicks/blocked``, ``clicks/permitted``,
``messages/blocked``, ``messages/delivered``, ``issues`` (permitted clicks and delivered
messages). Exactly one of ``sinceSeconds`` (1-3600), ``sinceTime`` (ISO 8601, at most an hour
ago) or ``interval`` (ISO 8601 ``start/end``, ``PT30M/end`` or ``start/PT30M``; 30 s to 1 h,
at most 7 days back); ``threatStatus`` (active / cleared / falsePositive, repeatable; default
active and cleared), ``threatType`` (url / attachment / messageText), ``format`` (json only).
The answer carries ``queryEndTime``; bad parameters get 400 with a plain-text message, as
Proofpoint answers them.

As in TAP, the API lists threats: messages with at least one finding pipeline (clean mail is
not listed; the Sentinel push carries every event) and clicks on links whose verdict was not
clean.

Authentication is HTTP basic with a service principal and secret, as TAP clients send it. The
principal chooses the tenant (``TAP365_SIEM_PRINCIPAL``: ``principal=tenant-id`` pairs;
``TAP365_SIEM_SECRET``: ``principal=secret`` pairs); secrets are compared in constant time, and
a principal only ever reads its own tenant's events.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.service.intake import HttpResult
from connectors.settings import Settings
from connectors.siem.events import SiemEvent, TooManyEvents, read_events
from connectors.storage.azure import AzureStores

MAX_SINCE_SECONDS = 3600
MAX_WINDOW = timedelta(hours=1)
MIN_INTERVAL = timedelta(seconds=30)
MAX_LOOKBACK = timedelta(days=7)
THREAT_STATUSES = ("active", "cleared", "falsePositive")
THREAT_TYPES = ("url", "attachment", "messageText")
#: Which collections each endpoint answers with.
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "all": ("messagesDelivered", "messagesBlocked", "clicksPermitted", "clicksBlocked"),
    "clicks/blocked": ("clicksBlocked",),
    "clicks/permitted": ("clicksPermitted",),
    "messages/blocked": ("messagesBlocked",),
    "messages/delivered": ("messagesDelivered",),
    "issues": ("messagesDelivered", "clicksPermitted"),
}
_COLLECTION = {
    "message_delivered": "messagesDelivered", "message_blocked": "messagesBlocked",
    "click_permitted": "clicksPermitted", "click_blocked": "clicksBlocked",
}
_DURATION = re.compile(r"^P(?:(\d{1,3})D)?(?:T(?:(\d{1,5})H)?(?:(\d{1,6})M)?(?:(\d{1,7})S)?)?$")


class QueryError(ValueError):
    """A parameter Proofpoint would refuse: 400 with this message."""


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> HttpResult:
    return HttpResult(status, message, "text/plain; charset=utf-8", headers or {})


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        if sep and key.strip() and value.strip():
            out[key.strip()] = value.strip()
    return out


def authenticate(settings: Settings, authorization: str) -> str | None:
    """The tenant whose principal and secret the ``Authorization: Basic`` header carries, or None."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded or len(encoded) > 4096:
        return None
    try:
        principal, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep:
        return None
    tenants, secrets = _pairs(settings.siem_principal), _pairs(settings.siem_secret)
    expected = secrets.get(principal, "")
    # Digests compared, so neither the secret's length nor a principal's existence shows in timing.
    given_digest, expected_digest = (hashlib.sha256(v.encode()).digest() for v in (secret, expected))
    same = hmac.compare_digest(given_digest, expected_digest)
    tenant = tenants.get(principal, "")
    if not (same and expected and tenant):
        return None
    return tenant.lower()


@dataclass(frozen=True, slots=True)
class Query:
    start: datetime
    end: datetime
    statuses: tuple[str, ...]
    threat_type: str


def _time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"The {name} parameter is not a valid ISO 8601 date: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _duration(value: str) -> timedelta | None:
    match = _DURATION.match(value.strip())
    if not match or value.strip() in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_query(params: Mapping[str, Sequence[str]], now: datetime) -> Query:
    """Proofpoint's query semantics; raises :class:`QueryError` with its message."""
    def one(name: str) -> str | None:
        values = params.get(name) or ()
        if len(values) > 1:
            raise QueryError(f"The {name} parameter may be given once")
        return values[0] if values else None

    fmt = (one("format") or "json").lower()
    if fmt != "json":
        raise QueryError("The format parameter must be json (syslog is not offered)")
    given = [n for n in ("sinceSeconds", "sinceTime", "interval") if one(n) is not None]
    if len(given) != 1:
        raise QueryError("Exactly one of the sinceSeconds, sinceTime or interval parameters is required")
    end = now
    if (seconds := one("sinceSeconds")) is not None:
        if not seconds.strip().isdigit() or not 1 <= int(seconds) <= MAX_SINCE_SECONDS:
            raise QueryError(f"The sinceSeconds parameter must be an integer from 1 to {MAX_SINCE_SECONDS}")
        start = now - timedelta(seconds=int(seconds))
    elif (since := one("sinceTime")) is not None:
        start = _time(since, "sinceTime")
        if start > now:
            raise QueryError("The sinceTime parameter is in the future")
        if now - start > MAX_WINDOW:
            raise QueryError("The sinceTime parameter must be within the last hour; "
                             "use interval for older data")
    else:
        first, sep, second = (one("interval") or "").partition("/")
        if not sep:
            raise QueryError("The interval parameter must be an ISO 8601 interval start/end")
        d1, d2 = _duration(first), _duration(second)
        if d1 is not None and d2 is not None:
            raise QueryError("The interval parameter needs a start or an end time")
        if d1 is not None:
            end = _time(second, "interval")
            start = end - d1
        elif d2 is not None:
            start = _time(first, "interval")
            end = start + d2
        else:
            start, end = _time(first, "interval"), _time(second, "interval")
        if end <= start:
            raise QueryError("The interval parameter's end must be after its start")
        if end - start > MAX_WINDOW:
            raise QueryError("The interval parameter may span one hour at most")
        if end - start < MIN_INTERVAL:
            raise QueryError("The interval parameter must span 30 seconds at least")
        if end > now:
            raise QueryError("The interval parameter's end is in the future")
    if now - start > MAX_LOOKBACK:
        raise QueryError("The requested start time is too far into the past (7 days at most)")
    statuses = tuple(params.get("threatStatus") or ()) or ("active", "cleared")
    if bad := [s for s in statuses if s not in THREAT_STATUSES]:
        raise QueryError(f"The threatStatus parameter must be one of {', '.join(THREAT_STATUSES)}: "
                         f"{bad[0][:40]!r}")
    threat_type = one("threatType") or ""
    if threat_type and threat_type not in THREAT_TYPES:
        raise QueryError(f"The threatType parameter must be one of {', '.join(THREAT_TYPES)}")
    return Query(start, end, statuses, threat_type)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _threat_type(pipeline: str) -> str:
    if pipeline.startswith("attach"):
        return "attachment"
    if pipeline.startswith("url") or pipeline.startswith("link"):
        return "url"
    return "messageText"


def _classification(verdict: str, threat_type: str) -> str:
    if threat_type == "attachment" and verdict == "malicious":
        return "malware"
    if threat_type == "messageText":
        return "impostor"
    return "phish"


def _threats(event: SiemEvent) -> list[dict[str, Any]]:
    out = []
    for pipeline in event.threat_pipelines:
        kind = _threat_type(pipeline)
        out.append({
            "threatID": hashlib.sha256(f"{event.event_id}|{pipeline}".encode()).hexdigest(),
            "threatStatus": "active", "classification": _classification(event.verdict, kind),
            "threatType": kind, "threatTime": _iso(event.time),
            "threat": next(iter(event.reasons), pipeline)[:500], "threatUrl": "", "campaignID": None,
        })
    return out


def message_record(event: SiemEvent) -> dict[str, Any]:
    """A message in TAP's field names (fields TAP has and tap365 does not: empty, never missing)."""
    threats = _threats(event)
    blocked = event.event_type == "message_blocked"
    score = max(0, min(100, round(event.score * 100))) if event.score <= 1 else 100
    return {
        "GUID": event.event_id, "QID": event.message_id, "id": event.event_id,
        "messageID": event.internet_message_id, "messageTime": _iso(event.time),
        "sender": event.sender, "fromAddress": [event.sender] if event.sender else [],
        "headerFrom": event.sender, "headerReplyTo": None, "replyToAddress": [],
        "recipient": [event.recipient] if event.recipient else [],
        "toAddresses": [event.recipient] if event.recipient else [], "ccAddresses": [],
        "subject": event.subject, "threatsInfoMap": threats,
        "phishScore": score if any(t["classification"] == "phish" for t in threats) else 0,
        "malwareScore": 100 if any(t["classification"] == "malware" for t in threats) else 0,
        "impostorScore": score if any(t["classification"] == "impostor" for t in threats) else 0,
        "spamScore": 0, "quarantineFolder": event.action if blocked else None,
        "quarantineRule": "; ".join(event.reasons)[:500] if blocked else None,
        "policyRoutes": ["default_inbound"], "modulesRun": list(event.threat_pipelines),
        "messageParts": [], "messageSize": 0, "completelyRewritten": False, "senderIP": "",
        "xmailer": None, "cluster": "tap365",
    }


def click_record(event: SiemEvent) -> dict[str, Any]:
    return {
        "id": event.event_id, "GUID": "", "messageID": "", "campaignId": None,
        "classification": "malware" if event.verdict == "malicious" else "phish",
        "clickIP": event.click_ip, "clickTime": _iso(event.time), "recipient": event.recipient,
        "sender": "", "senderIP": "", "threatID": hashlib.sha256(event.url.encode()).hexdigest(),
        "threatTime": _iso(event.time), "threatURL": "", "threatStatus": "active", "url": event.url,
        "userAgent": event.user_agent,
    }


def _select(event: SiemEvent, query: Query) -> dict[str, Any] | None:
    if event.event_type.startswith("click"):
        wanted = query.threat_type in ("", "url") and "active" in query.statuses
        if event.verdict in ("clean", "") or not wanted:
            return None
        return click_record(event)
    record = message_record(event)
    threats = [t for t in record["threatsInfoMap"] if t["threatStatus"] in query.statuses
               and (not query.threat_type or t["threatType"] == query.threat_type)]
    if not threats:
        return None  # TAP lists messages that carry a threat
    record["threatsInfoMap"] = threats
    return record


def answer(stores: AzureStores, settings: Settings, tenant_id: str, path: str,
           params: Mapping[str, Sequence[str]], *, now: datetime | None = None) -> HttpResult:
    """One authenticated request of ``tenant_id`` to ``/v2/siem/<path>``."""
    collections = ENDPOINTS.get(path.strip("/"))
    if collections is None:
        return _text(404, f"Unknown SIEM endpoint: /v2/siem/{path[:80]}")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    try:
        query = parse_query(params, now)
        events = read_events(stores, tenant_id, query.start, query.end, max_events=settings.siem_max_events)
    except (QueryError, TooManyEvents) as exc:
        return _text(400, str(exc))
    body: dict[str, Any] = {"queryEndTime": _iso(query.end)}
    for name in collections:
        body[name] = []
    for event in events:
        name = _COLLECTION.get(event.event_type, "")
        if name in body and (record := _select(event, query)) is not None:
            body[name].append(record)
    return HttpResult(200, json.dumps(body, ensure_ascii=False))


def handle(stores: AzureStores, settings: Settings, method: str, path: str, authorization: str,
           params: Mapping[str, Sequence[str]]) -> HttpResult:
    """The HTTP entry: authentication first (401 with a Basic challenge), then :func:`answer`."""
    tenant = authenticate(settings, authorization)
    if tenant is None:
        return _text(401, "Authentication failed", {"WWW-Authenticate": 'Basic realm="tap365 SIEM API"'})
    if method.upper() != "GET":
        return _text(405, "Only GET is supported", {"Allow": "GET"})
    return answer(stores, settings, tenant, path, params)
