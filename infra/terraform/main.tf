# The Azure resources. Same shape and names of settings as ../bicep/main.bicep.

data "azurerm_client_config" "current" {}

data "azurerm_resource_group" "rg" {
  name = var.resource_group_name
}

locals {
  location        = var.location != "" ? var.location : data.azurerm_resource_group.rg.location
  suffix          = substr(sha1("${data.azurerm_resource_group.rg.id}/${var.name_prefix}"), 0, 6)
  base_name       = "${var.name_prefix}-${local.suffix}"
  deploy_container = "deploymentpackage"
  tags            = merge(var.tags, { application = "tap365" })

  link_keys_secret_name = "link-signing-keys"
  graph_secret_name     = "graph-client-secret"
  webhook_secret_name   = "admin-webhook-secret"
  sandbox_token_name    = "sandbox-token"
  siem_secret_name      = "siem-secret"
  sentinel_table        = "TAP365Events_CL"
  sentinel_stream       = "Custom-TAP365Events_CL"
}

# ------------------------------------------------------------------ monitoring

resource "azurerm_log_analytics_workspace" "log" {
  name                = "${local.base_name}-log"
  location            = local.location
  resource_group_name = data.azurerm_resource_group.rg.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

resource "azurerm_application_insights" "appi" {
  name                          = "${local.base_name}-appi"
  location                      = local.location
  resource_group_name           = data.azurerm_resource_group.rg.name
  workspace_id                  = azurerm_log_analytics_workspace.log.id
  application_type              = "web"
  local_authentication_disabled = true # telemetry only with the app's Entra identity
  tags                          = local.tags
}

# SIEM events to Sentinel (connectors/siem/sentinel.py, the Logs Ingestion API): the custom table,
# a data collection endpoint, a rule whose stream declares the event's columns (the same list as
# connectors/siem/events.py COLUMNS; tests/siem checks they agree) and the app allowed to publish.
resource "azapi_resource" "siem_table" {
  type      = "Microsoft.OperationalInsights/workspaces/tables@2022-10-01"
  name      = local.sentinel_table
  parent_id = azurerm_log_analytics_workspace.log.id
  body = {
    properties = {
      plan = "Analytics"
      schema = {
        name = local.sentinel_table
        columns = [
          { name = "TimeGenerated", type = "datetime" },
          { name = "EventId", type = "string" },
          { name = "TenantId", type = "string" },
          { name = "EventType", type = "string" },
          { name = "Recipient", type = "string" },
          { name = "MessageId", type = "string" },
          { name = "InternetMessageId", type = "string" },
          { name = "Sender", type = "string" },
          { name = "Subject", type = "string" },
          { name = "Verdict", type = "string" },
          { name = "Action", type = "string" },
          { name = "Reasons", type = "dynamic" },
          { name = "ThreatPipelines", type = "dynamic" },
          { name = "Score", type = "real" },
          { name = "Url", type = "string" },
          { name = "ClickIp", type = "string" },
          { name = "UserAgent", type = "string" },
          { name = "IsScanner", type = "boolean" },
          { name = "Actor", type = "string" },
          { name = "Target", type = "string" }
        ]
      }
    }
  }
}

resource "azurerm_monitor_data_collection_endpoint" "siem" {
  name                          = "${local.base_name}-dce"
  location                      = local.location
  resource_group_name           = data.azurerm_resource_group.rg.name
  public_network_access_enabled = true
  tags                          = local.tags
}

resource "azurerm_monitor_data_collection_rule" "siem" {
  name                        = "${local.base_name}-dcr-siem"
  location                    = local.location
  resource_group_name         = data.azurerm_resource_group.rg.name
  data_collection_endpoint_id = azurerm_monitor_data_collection_endpoint.siem.id
  tags                        = local.tags

  stream_declaration {
    stream_name = local.sentinel_stream
    column {
      name = "TimeGenerated"
      type = "datetime"
    }
    column {
      name = "EventId"
      type = "string"
    }
    column {
      name = "TenantId"
      type = "string"
    }
    column {
      name = "EventType"
      type = "string"
    }
    column {
      name = "Recipient"
      type = "string"
    }
    column {
      name = "MessageId"
      type = "string"
    }
    column {
      name = "InternetMessageId"
      type = "string"
    }
    column {
      name = "Sender"
      type = "string"
    }
    column {
      name = "Subject"
      type = "string"
    }
    column {
      name = "Verdict"
      type = "string"
    }
    column {
      name = "Action"
      type = "string"
    }
    column {
      name = "Reasons"
      type = "dynamic"
    }
    column {
      name = "ThreatPipelines"
      type = "dynamic"
    }
    column {
      name = "Score"
      type = "real"
    }
    column {
      name = "Url"
      type = "string"
    }
    column {
      name = "ClickIp"
      type = "string"
    }
    column {
      name = "UserAgent"
      type = "string"
    }
    column {
      name = "IsScanner"
      type = "boolean"
    }
    column {
      name = "Actor"
      type = "string"
    }
    column {
      name = "Target"
      type = "string"
    }
  }

  destinations {
    log_analytics {
      name                  = "workspace"
      workspace_resource_id = azurerm_log_analytics_workspace.log.id
    }
  }

  data_flow {
    streams       = [local.sentinel_stream]
    destinations  = ["workspace"]
    transform_kql = "source"
    output_stream = local.sentinel_stream
  }

  depends_on = [azapi_resource.siem_table]
}

resource "azurerm_role_assignment" "siem_publisher" {
  scope                = azurerm_monitor_data_collection_rule.siem.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# ------------------------------------------------------------------ identity

resource "azurerm_user_assigned_identity" "app" {
  name                = "${local.base_name}-id"
  location            = local.location
  resource_group_name = data.azurerm_resource_group.rg.name
  tags                = local.tags
}

# ------------------------------------------------------------------ storage

resource "azurerm_storage_account" "st" {
  #checkov:skip=CKV2_AZURE_1: Microsoft-managed keys are enough for mail metadata and verdicts; customer-managed keys are an operator choice
  #checkov:skip=CKV2_AZURE_33: private endpoints are optional (storage_public_network_access=false plus VNet integration, see infra/docs/deploy.md)
  #checkov:skip=CKV_AZURE_59: public network access is a documented parameter (storage_public_network_access); the default keeps the Flex Consumption app reachable without VNet integration
  #checkov:skip=CKV_AZURE_35: the default network action follows storage_public_network_access (Deny when it is false)
  #checkov:skip=CKV_AZURE_206: redundancy is a parameter (storage_replication_type); ZRS by default, GRS/GZRS available
  #checkov:skip=CKV2_AZURE_41: shared keys are disabled, so no account SAS can be issued and a SAS expiration policy has nothing to govern
  #checkov:skip=CKV_AZURE_33: queue service logging needs a diagnostic setting; the app's own audit tables and Application Insights cover queue processing
  name                            = substr("${var.name_prefix}st${local.suffix}", 0, 24)
  location                        = local.location
  resource_group_name             = data.azurerm_resource_group.rg.name
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = var.storage_replication_type
  access_tier                     = "Hot"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false # identity only: no account key is ever deployed
  default_to_oauth_authentication = true
  cross_tenant_replication_enabled = false
  local_user_enabled              = false
  infrastructure_encryption_enabled = true
  public_network_access_enabled   = var.storage_public_network_access
  tags                            = local.tags

  network_rules {
    default_action = var.storage_public_network_access ? "Allow" : "Deny"
    bypass         = ["AzureServices"]
  }

  blob_properties {
    delete_retention_policy {
      days = 7
    }
    container_delete_retention_policy {
      days = 7
    }
  }
}

# Flex Consumption runs the app from a package in this container.
resource "azurerm_storage_container" "deploy" {
  #checkov:skip=CKV2_AZURE_21: blob read logging needs a diagnostic setting on the account; see infra/docs/operations.md to send it to the Log Analytics workspace
  name                  = local.deploy_container
  storage_account_id    = azurerm_storage_account.st.id
  container_access_type = "private"
}

# Least privilege on the account: blobs (deployment package, policies, artefacts, host leases),
# queues (notifications, delayed work), tables (journal, verdicts, audit, clicks...).
resource "azurerm_role_assignment" "blob" {
  scope                = azurerm_storage_account.st.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "queue" {
  scope                = azurerm_storage_account.st.id
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "table" {
  scope                = azurerm_storage_account.st.id
  role_definition_name = "Storage Table Data Contributor"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "metrics" {
  scope                = azurerm_application_insights.appi.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# ------------------------------------------------------------------ key vault

resource "azurerm_key_vault" "kv" {
  #checkov:skip=CKV2_AZURE_32: private endpoints are optional; Flex Consumption cannot resolve Key Vault references through a network-restricted vault
  #checkov:skip=CKV_AZURE_189: public network access is a documented parameter (key_vault_public_network_access), needed for Key Vault references on Flex Consumption
  #checkov:skip=CKV_AZURE_109: the default network action follows key_vault_public_network_access (Deny when it is false)
  name                          = substr("${var.name_prefix}-kv-${local.suffix}", 0, 24)
  location                      = local.location
  resource_group_name           = data.azurerm_resource_group.rg.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  enable_rbac_authorization     = true
  soft_delete_retention_days    = 90
  purge_protection_enabled      = true
  public_network_access_enabled = var.key_vault_public_network_access
  tags                          = local.tags

  network_acls {
    bypass         = "AzureServices"
    default_action = var.key_vault_public_network_access ? "Allow" : "Deny"
  }
}

resource "azurerm_role_assignment" "vault_app" {
  scope                = azurerm_key_vault.kv.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# Whoever runs Terraform writes the two secrets below.
resource "azurerm_role_assignment" "vault_deployer" {
  scope                = azurerm_key_vault.kv.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

# Link signing keys "kid:base64[,kid:base64]": generated once; rotation is done in Key Vault
# (infra/docs/keys.md), so Terraform never reverts a rotated value.
resource "random_bytes" "link_key" {
  length = 32
}

resource "azurerm_key_vault_secret" "link_keys" {
  #checkov:skip=CKV_AZURE_41: link keys must outlive every link still in mailboxes; an expired secret would stop the redirector. Rotation is by key id (infra/docs/keys.md)
  name         = local.link_keys_secret_name
  key_vault_id = azurerm_key_vault.kv.id
  value        = "k1:${random_bytes.link_key.base64}"
  content_type = "tap365 link signing keys kid:base64[,kid:base64]"
  depends_on   = [azurerm_role_assignment.vault_deployer]

  lifecycle {
    ignore_changes = [value]
  }
}

# The admin webhook's HMAC key: generated once, read by the receiver from Key Vault; rotated in
# Key Vault (Terraform ignores later changes, so it never reverts a rotated value).
resource "random_bytes" "webhook_key" {
  length = 32
}

resource "azurerm_key_vault_secret" "webhook_secret" {
  #checkov:skip=CKV_AZURE_41: a signing key shared with the admin's webhook receiver; it is rotated in Key Vault together with the receiver, not by expiry
  name         = local.webhook_secret_name
  key_vault_id = azurerm_key_vault.kv.id
  value        = random_bytes.webhook_key.hex
  content_type = "tap365 admin webhook HMAC-SHA256 key"
  depends_on   = [azurerm_role_assignment.vault_deployer]

  lifecycle {
    ignore_changes = [value]
  }
}

# The CAPE API token is the CAPE admin's, so Terraform generates nothing: it stores the token
# only when var.sandbox_token is given (or it is set later in Key Vault, infra/docs/keys.md).
resource "azurerm_key_vault_secret" "sandbox_token" {
  #checkov:skip=CKV_AZURE_41: the CAPE API token is issued by the CAPE admin and expires when they revoke it; a Key Vault expiry would only stop detonation
  count        = var.sandbox_token != "" ? 1 : 0
  name         = local.sandbox_token_name
  key_vault_id = azurerm_key_vault.kv.id
  value        = var.sandbox_token
  content_type = "CAPEv2 API token (Authorization: Token <key>)"
  depends_on   = [azurerm_role_assignment.vault_deployer]
}

# The SIEM pull API's principal=secret pairs: stored only when var.siem_secret is given.
resource "azurerm_key_vault_secret" "siem_secret" {
  #checkov:skip=CKV_AZURE_41: the SIEM's credentials are rotated with the SIEM connector's configuration, not by expiry (an expired secret would only stop the SIEM reading)
  count        = var.siem_secret != "" ? 1 : 0
  name         = local.siem_secret_name
  key_vault_id = azurerm_key_vault.kv.id
  value        = var.siem_secret
  content_type = "tap365 SIEM API principal=secret pairs"
  depends_on   = [azurerm_role_assignment.vault_deployer]
}

resource "azurerm_key_vault_secret" "graph_secret" {
  name            = local.graph_secret_name
  key_vault_id    = azurerm_key_vault.kv.id
  value           = azuread_application_password.tap365.value
  content_type    = "Entra ID client secret of the tap365 app registration"
  expiration_date = azuread_application_password.tap365.end_date
  depends_on      = [azurerm_role_assignment.vault_deployer]
}

# ------------------------------------------------------------------ function app

resource "azurerm_service_plan" "plan" {
  #checkov:skip=CKV_AZURE_225: zone redundancy for Flex Consumption exists only in some regions; queued work survives an instance loss
  #checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero per function; always-ready instances are a cost choice, not a failover need (queues retry)
  name                = "${local.base_name}-plan"
  location            = local.location
  resource_group_name = data.azurerm_resource_group.rg.name
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = local.tags
}

resource "azurerm_function_app_flex_consumption" "func" {
  name                = local.function_app_name
  location            = local.location
  resource_group_name = data.azurerm_resource_group.rg.name
  service_plan_id     = azurerm_service_plan.plan.id
  https_only          = true
  public_network_access_enabled = true # Graph and users' browsers must reach it
  client_certificate_enabled    = false
  webdeploy_publish_basic_authentication_enabled = false
  key_vault_reference_identity_id = azurerm_user_assigned_identity.app.id
  tags                = local.tags

  # Flex Consumption: the package lives in a blob container, read with the app's identity;
  # the runtime is set here (no FUNCTIONS_WORKER_RUNTIME app setting on this plan).
  storage_container_type            = "blobContainer"
  storage_container_endpoint        = "${azurerm_storage_account.st.primary_blob_endpoint}${local.deploy_container}"
  storage_authentication_type       = "UserAssignedIdentity"
  storage_user_assigned_identity_id = azurerm_user_assigned_identity.app.id
  runtime_name                      = "python"
  runtime_version                   = "3.11"
  maximum_instance_count            = var.maximum_instance_count
  instance_memory_in_mb             = var.instance_memory_mb

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  site_config {
    minimum_tls_version     = "1.2"
    scm_minimum_tls_version = "1.2"
    http2_enabled           = true
    # Sets APPLICATIONINSIGHTS_CONNECTION_STRING.
    application_insights_connection_string = azurerm_application_insights.appi.connection_string
  }

  # App Service authentication (Entra ID) in front of the console: it signs people in, sets the
  # X-MS-CLIENT-PRINCIPAL headers the console reads (and strips any a client sent) and sets
  # WEBSITE_AUTH_ENABLED, without which the console believes no principal header.
  auth_settings_v2 {
    auth_enabled           = true
    require_authentication = true
    unauthenticated_action = "RedirectToLoginPage"
    default_provider       = "azureactivedirectory"
    excluded_paths         = local.anonymous_paths
    require_https          = true
    active_directory_v2 {
      client_id = azuread_application.tap365.client_id
      # The same app registration and secret the service uses for Graph (a Key Vault reference).
      client_secret_setting_name = "TAP365_GRAPH_CLIENT_SECRET"
      # Multi-tenant: people of every onboarded tenant sign in; the console serves each only
      # its own tenant's data and refuses tenants the service does not protect.
      tenant_auth_endpoint = "https://login.microsoftonline.com/organizations/v2.0"
      allowed_audiences    = [azuread_application.tap365.client_id, "api://${azuread_application.tap365.client_id}"]
    }
    login {
      token_store_enabled = false
    }
  }

  app_settings = {
    # Functions host (identity-based AzureWebJobsStorage: no connection string, no key)
    "AzureWebJobsStorage__accountName"          = azurerm_storage_account.st.name
    "AzureWebJobsStorage__credential"           = "managedidentity"
    "AzureWebJobsStorage__clientId"             = azurerm_user_assigned_identity.app.client_id
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING" = "ClientId=${azurerm_user_assigned_identity.app.client_id};Authorization=AAD"
    # connectors/settings.py
    "TAP365_STATE_DIR"          = "/tmp/tap365"
    "TAP365_REDIRECT_BASE_URL"  = local.redirector_base_url
    "TAP365_PUBLIC_BASE_URL"    = "https://${local.function_host}"
    "TAP365_LINK_SIGNING_KEYS"  = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault.kv.vault_uri}secrets/${local.link_keys_secret_name}/)"
    "TAP365_LINK_MAX_AGE_DAYS"  = tostring(var.link_max_age_days)
    "TAP365_POLICY_FILE"        = var.policy_file
    "TAP365_INTEL_FEEDS"        = var.intel_feeds
    "TAP365_HASH_FEEDS"         = var.hash_feeds
    "TAP365_YARA_RULES"         = var.yara_rules
    "TAP365_HOME_TENANT_ID"       = data.azuread_client_config.current.tenant_id
    "TAP365_ALLOWED_TENANTS"      = var.allowed_tenants
    "TAP365_PROTECTED_GROUP_ID"   = var.protected_group_id
    "TAP365_ADMIN_NOTIFY_TO"      = var.admin_notify_to
    "TAP365_ADMIN_NOTIFY_FROM"    = var.admin_notify_from
    "TAP365_ADMIN_WEBHOOK_URL"    = var.admin_webhook_url
    "TAP365_ADMIN_WEBHOOK_SECRET" = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault.kv.vault_uri}secrets/${local.webhook_secret_name}/)"
    "TAP365_NOTIFICATION_MAX_BODY_BYTES"  = tostring(var.notification_max_body_bytes)
    "TAP365_NOTIFICATION_MAX_PER_REQUEST" = tostring(var.notification_max_per_request)
    "TAP365_NOTIFICATION_MAX_UNKNOWN"     = tostring(var.notification_max_unknown)
    "TAP365_CLAIM_LEASE_SECONDS"  = tostring(var.claim_lease_seconds)
    "TAP365_ANALYSIS_TIMEOUT_SECONDS" = tostring(var.analysis_timeout_seconds)
    "TAP365_HOLD_RECHECK_MINUTES" = tostring(var.hold_recheck_minutes)
    "TAP365_HOLD_ALERT_HOURS"     = tostring(var.hold_alert_hours)
    "TAP365_PURGE_LOOKBACK_HOURS" = tostring(var.purge_lookback_hours)
    "TAP365_SENDER_HISTORY_DAYS"  = tostring(var.sender_history_days)
    "TAP365_INTEL_CHECK_SECONDS"  = tostring(var.intel_check_seconds)
    "TAP365_DIRECTORY_REFRESH_MINUTES" = tostring(var.directory_refresh_minutes)
    "TAP365_RETENTION_DAYS"       = tostring(var.retention_days)
    "TAP365_AUDIT_RETENTION_DAYS" = tostring(var.audit_retention_days)
    # RDAP lookups go out over https to the registries (no egress restriction without a VNet;
    # with one, allow outbound 443 to the servers in connectors/rdap/data/dns.json).
    "TAP365_RDAP_ENABLED" = tostring(var.rdap_enabled)
    "TAP365_RDAP_BOOTSTRAP" = var.rdap_bootstrap
    "TAP365_RDAP_BUDGET_SECONDS" = var.rdap_budget_seconds
    "TAP365_RDAP_CONCURRENCY" = tostring(var.rdap_concurrency)
    "TAP365_RDAP_RATE_PER_SECOND" = var.rdap_rate_per_second
    "TAP365_RDAP_CACHE_DAYS" = tostring(var.rdap_cache_days)
    "TAP365_RDAP_NEGATIVE_CACHE_SECONDS" = tostring(var.rdap_negative_cache_seconds)
    "TAP365_RDAP_MAX_RESPONSE_BYTES" = tostring(var.rdap_max_response_bytes)
    # The admin console (TAP365_CONSOLE_DEV_IDENTITY is for development machines: never deployed)
    "TAP365_CONSOLE_TOKEN_MINUTES"          = tostring(var.console_token_minutes)
    "TAP365_CONSOLE_PAGE_SIZE"              = tostring(var.console_page_size)
    "TAP365_CONSOLE_MAX_ROWS"               = tostring(var.console_max_rows)
    "TAP365_CONSOLE_GRAPH_TIMEOUT_SECONDS"  = var.console_graph_timeout_seconds
    # SIEM events (connectors/siem): the pull API's principals and the Sentinel push
    "TAP365_SIEM_PRINCIPAL"          = var.siem_principal
    "TAP365_SIEM_SECRET"             = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault.kv.vault_uri}secrets/${local.siem_secret_name}/)"
    "TAP365_SIEM_MAX_EVENTS"         = tostring(var.siem_max_events)
    "TAP365_SENTINEL_DCE"            = azurerm_monitor_data_collection_endpoint.siem.logs_ingestion_endpoint
    "TAP365_SENTINEL_DCR_ID"         = azurerm_monitor_data_collection_rule.siem.immutable_id
    "TAP365_SENTINEL_STREAM"         = local.sentinel_stream
    "TAP365_SENTINEL_SETTLE_SECONDS" = tostring(var.sentinel_settle_seconds)
    "TAP365_SENTINEL_BACKFILL_HOURS" = tostring(var.sentinel_backfill_hours)
    "TAP365_CLICK_ANALYSIS_TIMEOUT_SECONDS" = var.click_analysis_timeout_seconds
    "TAP365_CLICK_ON_ERROR" = var.click_on_error
    "TAP365_CLICK_RENDER" = tostring(var.click_render)
    "TAP365_CHROMIUM_PATH" = var.chromium_path
    "TAP365_CLICK_RENDER_TIMEOUT_SECONDS" = var.click_render_timeout_seconds
    "TAP365_CLICK_RENDER_MAX_REQUESTS" = tostring(var.click_render_max_requests)
    "TAP365_CLICK_RENDER_MAX_BYTES" = tostring(var.click_render_max_bytes)
    "TAP365_CLICK_RENDER_CONCURRENCY" = tostring(var.click_render_concurrency)
    "TAP365_CLICK_VERDICT_TTL_SECONDS" = tostring(var.click_verdict_ttl_seconds)
    "TAP365_CLICK_RATE_LIMIT" = tostring(var.click_rate_limit)
    "TAP365_CLICK_RATE_WINDOW_SECONDS" = tostring(var.click_rate_window_seconds)
    "TAP365_CLICK_PROCEED_TTL_SECONDS" = tostring(var.click_proceed_ttl_seconds)
    "TAP365_SCAN_MAX_BYTES" = tostring(var.scan_max_bytes)
    "TAP365_SCAN_MAX_REDIRECTS" = tostring(var.scan_max_redirects)
    "TAP365_SANDBOX_URL"          = var.sandbox_url
    "TAP365_SANDBOX_TOKEN"        = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault.kv.vault_uri}secrets/${local.sandbox_token_name}/)"
    # connectors/storage/config.py (the account comes from AzureWebJobsStorage__*)
    "TAP365_STORAGE_PREFIX"             = var.storage_prefix
    "TAP365_STORAGE_MAX_DEQUEUE_COUNT"  = tostring(var.storage_max_dequeue_count)
    "TAP365_STORAGE_MAX_ARTEFACT_BYTES" = tostring(var.storage_max_artefact_bytes)
    # connectors/graph/config.py
    "TAP365_GRAPH_AUTHORITY_HOST"       = var.graph_authority_host
    "TAP365_GRAPH_BASE_URL"             = var.graph_base_url
    "TAP365_GRAPH_CLIENT_ID"            = azuread_application.tap365.client_id
    "TAP365_GRAPH_CLIENT_SECRET"        = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault.kv.vault_uri}secrets/${local.graph_secret_name}/)"
    "TAP365_GRAPH_CONNECT_TIMEOUT"      = var.graph_connect_timeout
    "TAP365_GRAPH_READ_TIMEOUT"         = var.graph_read_timeout
    "TAP365_GRAPH_MAX_CONCURRENCY"      = tostring(var.graph_max_concurrency)
    "TAP365_GRAPH_MAX_RETRIES"          = tostring(var.graph_max_retries)
    "TAP365_GRAPH_RETRY_DELAY"          = var.graph_retry_delay
    "TAP365_GRAPH_MAX_ATTACHMENT_BYTES" = tostring(var.graph_max_attachment_bytes)
  }

  lifecycle {
    # The settings above need the host name before the app exists (no self-reference).
    postcondition {
      condition     = self.default_hostname == local.function_host
      error_message = "The function host is not <name>.azurewebsites.net: set TAP365_PUBLIC_BASE_URL and the redirect URI by hand."
    }
  }

  depends_on = [
    azurerm_role_assignment.blob,
    azurerm_role_assignment.queue,
    azurerm_role_assignment.table,
    azurerm_role_assignment.vault_app,
    azurerm_role_assignment.metrics,
    azurerm_key_vault_secret.link_keys,
    azurerm_key_vault_secret.graph_secret,
    azurerm_key_vault_secret.sandbox_token, # the reference resolves on the first start when given
    azurerm_key_vault_secret.siem_secret,
  ]
}

locals {
  function_app_name    = "${local.base_name}-func"
  function_host        = "${local.function_app_name}.azurewebsites.net"
  redirector_host      = var.redirector_domain != "" ? var.redirector_domain : local.function_host
  redirector_base_url  = "https://${local.redirector_host}/api/r"
  consent_callback_url = "https://${local.function_host}/api/consent/callback"
  # App Service authentication's own sign-in callback (the console's Entra ID sign-in).
  auth_callback_url = "https://${local.function_host}/.auth/login/aad/callback"
  # Reached without an Entra ID sign-in: Graph's notifications, the consent flow, clicks on
  # rewritten links, the function-key admin API and the health probe. Everything else (the
  # console under /api/console) needs one.
  anonymous_paths = [
    "/api/graph/notifications",
    "/api/graph/lifecycle",
    "/api/consent/start",
    "/api/consent/callback",
    "/api/r/*",
    "/api/manage/*",
    "/api/health",
  ]
}
