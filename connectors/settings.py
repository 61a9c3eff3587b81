"""Service settings: environment variables prefixed ``TAP365_`` (one name per setting).

Every setting is documented in the README and in ``local.settings.json.example``; the
deployment templates set the same names. Everything works with no configuration at all.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAP365_", extra="ignore")

    #: Local state folder (generated link key, caches). Not used when keys come from settings.
    state_dir: Path = Field(default=Path(".tap365"))
    #: Base URL of the click redirector; rewritten links are ``{base}/1.<token>?<url>``.
    redirect_base_url: str = "http://localhost:7071/api/r"
    #: Link signing keys ``kid:base64key[,kid:base64key...]``; the first signs new links, all
    #: verify. Empty: a key is generated on first use and kept in ``state_dir``.
    link_signing_keys: str = Field(default="", repr=False)
    #: Link lifetime in days (0 = links never expire).
    link_max_age_days: int = 0
    #: Default policy file (YAML or JSON); empty = built-in safe defaults.
    policy_file: str = ""
    #: Threat intelligence feeds: comma-separated file paths or https URLs.
    intel_feeds: str = ""
    #: Tenant id used by the command line when none is given.
    default_tenant_id: str = "local"
    #: Known-malware hash lists (plain md5/sha1/sha256 or MalwareBazaar CSV): comma-separated files.
    hash_feeds: str = ""
    #: Extra YARA rule files or folders of .yar files, comma-separated (compiled with the shipped rules).
    yara_rules: str = ""
    #: ClamAV, optional: a clamd unix socket path, or "clamscan" to run clamscan on each file.
    clamav: str = ""
    #: ClamAV databases for clamscan mode (comma-separated .hdb/.hsb/.ndb/.yar files or folders).
    clamav_databases: str = ""
    #: Public base URL of the function app (Graph posts notifications to
    #: ``{public_base_url}/api/graph/notifications``); empty: derived from the redirect base URL.
    public_base_url: str = ""
    #: What one anonymous POST to the notification endpoints may cost (Graph's own batches are far
    #: smaller): body bytes and notifications per request (over either: 413), and subscription
    #: ids unknown to the store read per request before the rest goes unread.
    notification_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    notification_max_per_request: int = Field(default=1000, ge=1, le=100_000)
    notification_max_unknown: int = Field(default=10, ge=1, le=1000)
    #: The tenant the app is registered in (a GUID): the one tenant allowed to onboard by default.
    home_tenant_id: str = ""
    #: More tenants allowed to onboard (comma-separated tenant ids, GUIDs), besides the home tenant.
    allowed_tenants: str = ""
    #: Protect only the members of this Entra group (object id); empty: every mail-enabled user.
    protected_group_id: str = ""
    #: Seconds a worker holds a message claim before another may take it over.
    claim_lease_seconds: int = 120
    #: Hard limit on one message's analysis (it runs in a child process that is killed at the
    #: limit; the message is then held with the reason), in seconds. Keep it well under the claim
    #: lease and host.json's functionTimeout.
    analysis_timeout_seconds: float = Field(default=60.0, gt=0, le=240)
    #: A message held as SUSPICIOUS (URL-driven) is analysed again after this many minutes, with
    #: fresh intelligence and a time-of-click analysis of its links, then released, tagged or
    #: quarantined per policy (0: at once, for tests and demos).
    hold_recheck_minutes: int = Field(default=30, ge=0, le=10080)
    #: The admin gets one notice (TAP365_ADMIN_NOTIFY_TO) listing holds older than this many hours.
    hold_alert_hours: int = Field(default=24, ge=1, le=8760)
    #: Post-delivery purge looks back this many hours when intelligence changes.
    purge_lookback_hours: int = 48
    #: Where admin notices go (comma-separated addresses) and the mailbox they are sent from.
    admin_notify_to: str = ""
    admin_notify_from: str = ""
    #: Admin webhook: an https URL that gets a JSON event (POST) for every malicious attachment;
    #: empty: none. Private addresses are refused unless TAP365_SCAN_ALLOW_NETWORKS admits them.
    admin_webhook_url: str = ""
    #: HMAC-SHA256 key for the webhook's ``X-TAP365-Signature`` header; empty: events are unsigned.
    admin_webhook_secret: str = Field(default="", repr=False)
    #: CAPEv2 API token (``Authorization: Token <key>``) for ``TAP365_SANDBOX_URL``; empty: none
    #: sent (CAPE with ``token_auth_enabled = no``). A secret: kept out of repr and logs.
    sandbox_token: str = Field(default="", repr=False)
    #: Sender history window for "newly observed sender" and mailbox intelligence, in days: a
    #: sender not seen for longer is forgotten (its rows are deleted by the daily cleanup).
    sender_history_days: int = Field(default=90, ge=1)
    #: How often each instance checks the stored intelligence version (one blob read) and
    #: reloads when another instance's refresh changed it, in seconds (0: on every use).
    intel_check_seconds: int = Field(default=300, ge=0)
    #: How long a tenant's users (display-name check) and verified domains are cached, in minutes.
    directory_refresh_minutes: int = Field(default=60, ge=1)
    #: Days verdicts, clicks and finished journal entries are kept (the daily cleanup deletes older).
    retention_days: int = Field(default=90, ge=1)
    #: Days the admin audit trail is kept (Microsoft Purview Audit Standard keeps 180).
    audit_retention_days: int = Field(default=180, ge=1)
    #: Domain age by RDAP (connectors/rdap): off unless configured, so the service stays offline;
    #: the deployment templates turn it on with the shipped IANA bootstrap.
    rdap_enabled: bool = False
    #: An RDAP bootstrap file in the IANA format (RFC 9224) to use instead of the shipped one;
    #: server URLs must be https (plain http only on loopback, for tests).
    rdap_bootstrap: str = ""
    #: How long a message waits for its RDAP lookups, in seconds; what is not answered by then is
    #: "unknown" with the reason (the HTTP call has the same limit).
    rdap_budget_seconds: float = Field(default=2.0, gt=0, le=30)
    #: RDAP lookups running at once (per instance).
    rdap_concurrency: int = Field(default=8, ge=1, le=64)
    #: Requests per second to any one RDAP server (per instance).
    rdap_rate_per_second: float = Field(default=5.0, gt=0, le=100)
    #: Days a registration date is cached (shared by every tenant; not-found answers: one day).
    rdap_cache_days: int = Field(default=30, ge=1, le=365)
    #: Seconds a failed lookup (timeout, HTTP 429, garbage) is remembered so the next message
    #: does not wait for the same failure again (0: not remembered).
    rdap_negative_cache_seconds: int = Field(default=600, ge=0, le=86400)
    #: Largest RDAP answer read, in bytes (the read stops there; real answers are a few kB).
    rdap_max_response_bytes: int = Field(default=1024 * 1024, ge=1024, le=16 * 1024 * 1024)

    #: Development sign-in for the admin console, "upn,role,tenant-id" (role TAP365.Admin or
    #: TAP365.Analyst). Honoured only for requests from loopback while App Service authentication
    #: is off (``tap365 serve``, the local stack); never deployed.
    console_dev_identity: str = ""
    #: Minutes a console form's CSRF token stays valid (it is bound to the person and tenant).
    console_token_minutes: int = Field(default=480, ge=5, le=1440)
    #: Rows on one console list page (a page asks for at most this many; the query may not ask more).
    console_page_size: int = Field(default=50, ge=10, le=500)
    #: Records one console page or chart reads from a store at most; a page that reached it says so.
    console_max_rows: int = Field(default=5000, ge=100, le=100_000)
    #: How long the console's health page waits for its Microsoft Graph checks, in seconds.
    console_graph_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    #: SIEM pull API (Proofpoint TAP SIEM API v2 compatible, ``/api/v2/siem/...``): service
    #: principals, ``principal=tenant-id`` pairs (comma-separated; one principal per tenant, which
    #: chooses the tenant whose events it reads). Empty: the API refuses every request.
    siem_principal: str = ""
    #: The principals' secrets, ``principal=secret`` pairs (HTTP basic auth, as TAP clients send).
    siem_secret: str = Field(default="", repr=False)
    #: Records one SIEM window (a pull query, a push batch's window) may read at most; a query
    #: over it is refused with 400 (ask a shorter interval), a push halves its window.
    siem_max_events: int = Field(default=20_000, ge=10, le=1_000_000)
    #: Microsoft Sentinel push through the Logs Ingestion API: the data collection endpoint's
    #: logs ingestion URL, the rule's immutable id (dcr-...) and its stream. Empty DCE: no push.
    sentinel_dce: str = ""
    sentinel_dcr_id: str = ""
    sentinel_stream: str = "Custom-TAP365Events_CL"
    #: Events younger than this many seconds wait for the next push (a record written a moment
    #: after its own time must not fall behind the cursor).
    sentinel_settle_seconds: int = Field(default=120, ge=0, le=3600)
    #: How far back a tenant's first push starts, in hours.
    sentinel_backfill_hours: int = Field(default=24, ge=0, le=24 * 90)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
