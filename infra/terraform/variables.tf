variable "resource_group_name" {
  description = "Existing resource group to deploy into (az group create -n NAME -l LOCATION)."
  type        = string
}

variable "name_prefix" {
  description = "Short lowercase prefix of every resource name (letters and digits, 3-11)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,10}$", var.name_prefix))
    error_message = "name_prefix: 3-11 lowercase letters and digits, starting with a letter."
  }
}

variable "location" {
  description = "Azure region (one where Flex Consumption is available). Empty: the resource group's."
  type        = string
  default     = ""
}

variable "redirector_domain" {
  description = "Custom domain of the click redirector, e.g. tap.contoso.com (bind it afterwards, see infra/docs/deploy.md). Empty: the function host."
  type        = string
  default     = ""
}

variable "allowed_tenants" {
  description = "More tenant ids (GUIDs) allowed to onboard, comma-separated, besides the tenant the app is registered in (always allowed). Empty: that tenant only."
  type        = string
  default     = ""
}

variable "sandbox_url" {
  description = "Base URL of the sandbox provider used for dynamic attachment analysis. Empty: static analysis only."
  type        = string
  default     = ""
}

variable "sandbox_token" {
  description = "TAP365_SANDBOX_TOKEN: API token of the CAPEv2 sandbox at sandbox_url (CAPE token authentication), from the CAPE admin. Stored as the Key Vault secret sandbox-token only when given; empty: no secret is created (set it later, see infra/docs/keys.md) and, when there is none, no token is sent."
  type        = string
  default     = ""
  sensitive   = true
}

variable "storage_public_network_access" {
  description = "Public network access to the storage account. false needs VNet integration and private endpoints (not created here)."
  type        = bool
  default     = true
}

variable "key_vault_public_network_access" {
  description = "Public network access to Key Vault. Flex Consumption cannot resolve Key Vault references through a restricted vault."
  type        = bool
  default     = true
}

variable "storage_replication_type" {
  description = "Storage redundancy: LRS, ZRS, GRS or GZRS."
  type        = string
  default     = "ZRS"
}

variable "maximum_instance_count" {
  description = "Most instances the app scales out to (caps the cost)."
  type        = number
  default     = 40
}

variable "instance_memory_mb" {
  description = "Instance memory (MB): 512, 2048 or 4096."
  type        = number
  default     = 2048
}

variable "log_retention_days" {
  description = "Log Analytics retention (days)."
  type        = number
  default     = 90
}

variable "mail_advanced_role_value" {
  description = "Value of the Graph application permission that allows editing received mail (id looked up at deploy time)."
  type        = string
  default     = "Mail-Advanced.ReadWrite"
}

variable "app_display_name" {
  description = "Display name of the multi-tenant app registration. Empty: \"tap365 <name_prefix>\"."
  type        = string
  default     = ""
}

variable "client_secret_rotation_days" {
  description = "The Graph client secret is replaced after this many days (at the next apply)."
  type        = number
  default     = 180
}

# Service settings (the same names as connectors/; defaults are the code's defaults).
variable "link_max_age_days" {
  description = "TAP365_LINK_MAX_AGE_DAYS: refuse links older than this at click (0: never)."
  type        = number
  default     = 0
}

variable "policy_file" {
  description = "TAP365_POLICY_FILE: default policy file inside the deployed package; empty: built-in safe defaults."
  type        = string
  default     = ""
}

variable "intel_feeds" {
  description = "TAP365_INTEL_FEEDS: comma-separated https URLs of threat intelligence feeds."
  type        = string
  default     = ""
}

variable "hash_feeds" {
  description = "TAP365_HASH_FEEDS: known-malware hash lists (files in the package)."
  type        = string
  default     = ""
}

variable "yara_rules" {
  description = "TAP365_YARA_RULES: extra YARA rule files or folders in the package."
  type        = string
  default     = ""
}

variable "protected_group_id" {
  description = "TAP365_PROTECTED_GROUP_ID: protect only the members of this Entra group (object id); empty: every mail-enabled user."
  type        = string
  default     = ""
}

variable "admin_notify_to" {
  description = "TAP365_ADMIN_NOTIFY_TO: comma-separated addresses that receive admin notices."
  type        = string
  default     = ""
}

variable "admin_notify_from" {
  description = "TAP365_ADMIN_NOTIFY_FROM: mailbox admin notices are sent from (needs Mail.Send)."
  type        = string
  default     = ""
}

variable "admin_webhook_url" {
  description = "TAP365_ADMIN_WEBHOOK_URL: https URL that receives a JSON event for every malicious attachment; empty: none. Its signing key (TAP365_ADMIN_WEBHOOK_SECRET) is the Key Vault secret admin-webhook-secret."
  type        = string
  default     = ""
}

variable "notification_max_body_bytes" {
  description = "TAP365_NOTIFICATION_MAX_BODY_BYTES: largest notification POST read from Graph (or anyone); over it: 413."
  type        = number
  default     = 4194304
}

variable "notification_max_per_request" {
  description = "TAP365_NOTIFICATION_MAX_PER_REQUEST: most notifications in one POST; over it: 413."
  type        = number
  default     = 1000
}

variable "notification_max_unknown" {
  description = "TAP365_NOTIFICATION_MAX_UNKNOWN: unknown subscription ids read from storage per POST before the rest goes unread."
  type        = number
  default     = 10
}

variable "claim_lease_seconds" {
  description = "TAP365_CLAIM_LEASE_SECONDS: seconds a worker holds a message claim before another may take it over."
  type        = number
  default     = 120
}

variable "analysis_timeout_seconds" {
  description = "TAP365_ANALYSIS_TIMEOUT_SECONDS: hard limit on one message's analysis; over it the message is held with the reason."
  type        = number
  default     = 60
}

variable "hold_recheck_minutes" {
  description = "TAP365_HOLD_RECHECK_MINUTES: minutes before a suspicious (URL) hold is analysed again and released, tagged or quarantined."
  type        = number
  default     = 30
}

variable "hold_alert_hours" {
  description = "TAP365_HOLD_ALERT_HOURS: holds older than this many hours are listed in one notice to the admin."
  type        = number
  default     = 24
}

variable "purge_lookback_hours" {
  description = "TAP365_PURGE_LOOKBACK_HOURS: post-delivery purge window when intelligence changes."
  type        = number
  default     = 48
}

variable "sender_history_days" {
  description = "TAP365_SENDER_HISTORY_DAYS: sender history window (newly observed senders)."
  type        = number
  default     = 90
}

variable "intel_check_seconds" {
  description = "TAP365_INTEL_CHECK_SECONDS: how often each instance checks the stored intelligence version (seconds)."
  type        = number
  default     = 300
}

variable "directory_refresh_minutes" {
  description = "TAP365_DIRECTORY_REFRESH_MINUTES: how long a tenant's users and verified domains are cached (minutes)."
  type        = number
  default     = 60
}

variable "retention_days" {
  description = "TAP365_RETENTION_DAYS: days verdicts, clicks and finished journal entries are kept."
  type        = number
  default     = 90
}

variable "audit_retention_days" {
  description = "TAP365_AUDIT_RETENTION_DAYS: days the admin audit trail is kept."
  type        = number
  default     = 180
}

variable "rdap_enabled" {
  description = "TAP365_RDAP_ENABLED: look domain registration dates up by RDAP (outbound https to the registries' RDAP servers)."
  type        = bool
  default     = true
}

variable "rdap_bootstrap" {
  description = "TAP365_RDAP_BOOTSTRAP: an RDAP bootstrap file (IANA format) to use instead of the shipped IANA copy (empty: shipped)."
  type        = string
  default     = ""
}

variable "rdap_budget_seconds" {
  description = "TAP365_RDAP_BUDGET_SECONDS: how long a message waits for its RDAP lookups (seconds)."
  type        = string
  default     = "2.0"
}

variable "rdap_concurrency" {
  description = "TAP365_RDAP_CONCURRENCY: RDAP lookups running at once per instance."
  type        = number
  default     = 8
}

variable "rdap_rate_per_second" {
  description = "TAP365_RDAP_RATE_PER_SECOND: requests per second to any one RDAP server, per instance."
  type        = string
  default     = "5.0"
}

variable "rdap_cache_days" {
  description = "TAP365_RDAP_CACHE_DAYS: days a registration date is cached (shared by every tenant)."
  type        = number
  default     = 30
}

variable "rdap_negative_cache_seconds" {
  description = "TAP365_RDAP_NEGATIVE_CACHE_SECONDS: seconds a failed RDAP lookup is remembered (0: not remembered)."
  type        = number
  default     = 600
}

variable "rdap_max_response_bytes" {
  description = "TAP365_RDAP_MAX_RESPONSE_BYTES: largest RDAP answer read (bytes)."
  type        = number
  default     = 1048576
}

variable "console_token_minutes" {
  description = "TAP365_CONSOLE_TOKEN_MINUTES: minutes a console form's CSRF token stays valid."
  type        = number
  default     = 480
}

variable "console_page_size" {
  description = "TAP365_CONSOLE_PAGE_SIZE: rows on one console list page (10-500)."
  type        = number
  default     = 50
}

variable "console_max_rows" {
  description = "TAP365_CONSOLE_MAX_ROWS: records one console page or chart reads from a store at most."
  type        = number
  default     = 5000
}

variable "console_graph_timeout_seconds" {
  description = "TAP365_CONSOLE_GRAPH_TIMEOUT_SECONDS: how long the console's health page waits for its Graph checks."
  type        = string
  default     = "10.0"
}

variable "click_analysis_timeout_seconds" {
  description = "TAP365_CLICK_ANALYSIS_TIMEOUT_SECONDS: time budget (seconds) of one time-of-click analysis."
  type        = string
  default     = "8.0"
}

variable "click_render" {
  description = "TAP365_CLICK_RENDER: render pages whose content their scripts build in headless Chromium, when it is found (none on Flex Consumption: pages are read as HTML)."
  type        = bool
  default     = true
}

variable "chromium_path" {
  description = "TAP365_CHROMIUM_PATH: the Chromium executable (empty: chromium, chromium-browser or google-chrome on PATH)."
  type        = string
  default     = ""
}

variable "click_render_timeout_seconds" {
  description = "TAP365_CLICK_RENDER_TIMEOUT_SECONDS: longest render of one page (it also ends before the click analysis timeout)."
  type        = string
  default     = "5.0"
}

variable "click_render_max_requests" {
  description = "TAP365_CLICK_RENDER_MAX_REQUESTS: requests a rendered page may make beyond its document."
  type        = number
  default     = 50
}

variable "click_render_max_bytes" {
  description = "TAP365_CLICK_RENDER_MAX_BYTES: bytes a rendered page's requests may bring in all."
  type        = number
  default     = 8388608
}

variable "click_render_concurrency" {
  description = "TAP365_CLICK_RENDER_CONCURRENCY: renders at once per instance."
  type        = number
  default     = 2
}

variable "click_on_error" {
  description = "TAP365_CLICK_ON_ERROR: when click-time analysis fails or times out: warn, allow or block."
  type        = string
  default     = "warn"
  validation {
    condition     = contains(["warn", "allow", "block"], var.click_on_error)
    error_message = "click_on_error: warn, allow or block."
  }
}

variable "click_verdict_ttl_seconds" {
  description = "TAP365_CLICK_VERDICT_TTL_SECONDS: how long a click-time verdict is reused."
  type        = number
  default     = 3600
}

variable "click_rate_limit" {
  description = "TAP365_CLICK_RATE_LIMIT: clicks per client per window before the redirector slows down."
  type        = number
  default     = 50
}

variable "click_rate_window_seconds" {
  description = "TAP365_CLICK_RATE_WINDOW_SECONDS: rate-limit window (seconds)."
  type        = number
  default     = 5
}

variable "click_proceed_ttl_seconds" {
  description = "TAP365_CLICK_PROCEED_TTL_SECONDS: lifetime of the proceed link on a warning page (seconds)."
  type        = number
  default     = 300
}

variable "scan_max_bytes" {
  description = "TAP365_SCAN_MAX_BYTES: most bytes the click-time scanner fetches from a page."
  type        = number
  default     = 2097152
}

variable "scan_max_redirects" {
  description = "TAP365_SCAN_MAX_REDIRECTS: most redirects the click-time scanner follows."
  type        = number
  default     = 5
}

variable "storage_prefix" {
  description = "TAP365_STORAGE_PREFIX: prefix of every table, container and queue name."
  type        = string
  default     = "tap"
}

variable "storage_max_dequeue_count" {
  description = "TAP365_STORAGE_MAX_DEQUEUE_COUNT (keep equal to host.json extensions.queues.maxDequeueCount)."
  type        = number
  default     = 5
}

variable "storage_max_artefact_bytes" {
  description = "TAP365_STORAGE_MAX_ARTEFACT_BYTES: largest raw artefact kept in blob storage."
  type        = number
  default     = 157286400
}

variable "graph_authority_host" {
  description = "TAP365_GRAPH_AUTHORITY_HOST: Entra authority host (sovereign clouds differ)."
  type        = string
  default     = "https://login.microsoftonline.com"
}

variable "graph_base_url" {
  description = "TAP365_GRAPH_BASE_URL: Microsoft Graph base URL, no trailing slash."
  type        = string
  default     = "https://graph.microsoft.com/v1.0"
}

variable "graph_max_concurrency" {
  description = "TAP365_GRAPH_MAX_CONCURRENCY: concurrent Graph requests per app."
  type        = number
  default     = 4
}

variable "graph_max_retries" {
  description = "TAP365_GRAPH_MAX_RETRIES: retries on 429/503/504 (0-10)."
  type        = number
  default     = 3
}

variable "graph_retry_delay" {
  description = "TAP365_GRAPH_RETRY_DELAY: base backoff (seconds) when Graph sends no Retry-After."
  type        = string
  default     = "3.0"
}

variable "graph_connect_timeout" {
  description = "TAP365_GRAPH_CONNECT_TIMEOUT (seconds)."
  type        = string
  default     = "10.0"
}

variable "graph_read_timeout" {
  description = "TAP365_GRAPH_READ_TIMEOUT (seconds)."
  type        = string
  default     = "60.0"
}

variable "graph_max_attachment_bytes" {
  description = "TAP365_GRAPH_MAX_ATTACHMENT_BYTES: attachments downloaded through /$value up to this size."
  type        = number
  default     = 52428800
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}

variable "siem_principal" {
  description = "TAP365_SIEM_PRINCIPAL: service principals of the SIEM pull API (Proofpoint TAP SIEM API v2 compatible, /api/v2/siem/...), principal=tenant-id pairs, comma-separated. Their secrets (TAP365_SIEM_SECRET, principal=secret pairs) are the Key Vault secret siem-secret, stored only when siem_secret is given. Empty: the API refuses every request."
  type        = string
  default     = ""
}

variable "siem_secret" {
  description = "TAP365_SIEM_SECRET: principal=secret pairs for siem_principal; stored as the Key Vault secret siem-secret only when given."
  type        = string
  default     = ""
  sensitive   = true
}

variable "siem_max_events" {
  description = "TAP365_SIEM_MAX_EVENTS: records one SIEM query or Sentinel push window reads at most."
  type        = number
  default     = 20000
}

variable "sentinel_settle_seconds" {
  description = "TAP365_SENTINEL_SETTLE_SECONDS: events younger than this wait for the next Sentinel push."
  type        = number
  default     = 120
}

variable "sentinel_backfill_hours" {
  description = "TAP365_SENTINEL_BACKFILL_HOURS: how far back a tenant's first Sentinel push starts."
  type        = number
  default     = 24
}
