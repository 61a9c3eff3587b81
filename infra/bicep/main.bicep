// tap365: the whole Azure deployment in one resource group (the Terraform in ../terraform
// deploys the same thing). Guide: ../README.md.
//
//   az group create -n rg-tap365 -l westeurope
//   az deployment group create -g rg-tap365 -f infra/bicep/main.bicep -p namePrefix=tap365
//   infra/scripts/bicep-post-deploy.sh rg-tap365     # client secret + link signing key
//
// Function App (Flex Consumption, Linux, Python 3.11) with a user-assigned identity; its
// storage account (identity only: no shared keys); Application Insights on a Log Analytics
// workspace (Entra ID auth only); a Key Vault in RBAC mode holding the link signing keys and
// the Graph client secret; the multi-tenant app registration through the Microsoft Graph
// Bicep extension. App settings: one `appsettings` resource below; tests/infra checks that its
// names are exactly the settings the code reads (plus the platform's own).

targetScope = 'resourceGroup'

extension microsoftGraphV1

// ---------------------------------------------------------------- parameters

@description('Short lowercase prefix of every resource name (letters and digits, 3-11).')
@minLength(3)
@maxLength(11)
param namePrefix string

@description('Azure region (one where Flex Consumption is available).')
param location string = resourceGroup().location

@description('Custom domain of the click redirector, e.g. tap.contoso.com (bind it afterwards, see infra/docs/deploy.md). Empty: the function host.')
param redirectorDomain string = ''

@description('More tenant ids (GUIDs) allowed to onboard, comma-separated, besides the tenant the app is registered in (always allowed). Empty: that tenant only.')
param allowedTenants string = ''

@description('Base URL of the sandbox provider used for dynamic attachment analysis. Empty: no detonation (static analysis only).')
param sandboxUrl string = ''

@secure()
@description('TAP365_SANDBOX_TOKEN: API token of the CAPEv2 sandbox at sandboxUrl (CAPE token authentication), from the CAPE admin. Stored as the Key Vault secret sandbox-token only when given; empty: the secret is left as it is (set it later, see infra/docs/keys.md) and, when there is none, no token is sent.')
param sandboxToken string = ''

@description('Public network access to the storage account. Disabled needs VNet integration and private endpoints (not created here).')
@allowed([
  'Enabled'
  'Disabled'
])
param storagePublicNetworkAccess string = 'Enabled'

@description('Public network access to Key Vault. Flex Consumption cannot resolve Key Vault references through a restricted vault: keep Enabled unless the app reads secrets another way.')
@allowed([
  'Enabled'
  'Disabled'
])
param keyVaultPublicNetworkAccess string = 'Enabled'

@description('Storage redundancy.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSku string = 'Standard_ZRS'

@description('Most instances the app scales out to (Flex Consumption bills per execution; this caps the cost).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Instance memory (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Log Analytics retention (days).')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

@description('Value of the Graph application permission that allows editing received mail; its id is looked up on the Microsoft Graph service principal at deploy time.')
param mailAdvancedRoleValue string = 'Mail-Advanced.ReadWrite'

@description('Display name of the multi-tenant app registration.')
param appDisplayName string = 'tap365 ${namePrefix}'

// Service settings (the same names as connectors/; defaults are the code's defaults).
@description('TAP365_LINK_MAX_AGE_DAYS: refuse links older than this at click (0: never).')
param linkMaxAgeDays int = 0
@description('TAP365_POLICY_FILE: default policy file inside the deployed package; empty: built-in safe defaults.')
param policyFile string = ''
@description('TAP365_INTEL_FEEDS: comma-separated https URLs of threat intelligence feeds.')
param intelFeeds string = ''
@description('TAP365_HASH_FEEDS: known-malware hash lists (files in the package).')
param hashFeeds string = ''
@description('TAP365_YARA_RULES: extra YARA rule files or folders in the package.')
param yaraRules string = ''
@description('TAP365_PROTECTED_GROUP_ID: protect only the members of this Entra group (object id, in each tenant); empty: every mail-enabled user.')
param protectedGroupId string = ''
@description('TAP365_ADMIN_NOTIFY_TO: comma-separated addresses that receive admin notices.')
param adminNotifyTo string = ''
@description('TAP365_ADMIN_NOTIFY_FROM: mailbox admin notices are sent from (needs Mail.Send).')
param adminNotifyFrom string = ''
@description('TAP365_ADMIN_WEBHOOK_URL: https URL that receives a JSON event for every malicious attachment; empty: none. Its signing key (TAP365_ADMIN_WEBHOOK_SECRET) is the Key Vault secret admin-webhook-secret.')
param adminWebhookUrl string = ''
@description('TAP365_NOTIFICATION_MAX_BODY_BYTES: largest notification POST read from Graph (or anyone); over it: 413.')
param notificationMaxBodyBytes int = 4194304
@description('TAP365_NOTIFICATION_MAX_PER_REQUEST: most notifications in one POST; over it: 413.')
param notificationMaxPerRequest int = 1000
@description('TAP365_NOTIFICATION_MAX_UNKNOWN: unknown subscription ids read from storage per POST before the rest goes unread.')
param notificationMaxUnknown int = 10
@description('TAP365_CLAIM_LEASE_SECONDS: seconds a worker holds a message claim before another may take it over.')
param claimLeaseSeconds int = 120
@description('TAP365_ANALYSIS_TIMEOUT_SECONDS: hard limit on one message\'s analysis; over it the message is held with the reason.')
param analysisTimeoutSeconds int = 60
@description('TAP365_HOLD_RECHECK_MINUTES: minutes before a suspicious (URL) hold is analysed again and released, tagged or quarantined.')
param holdRecheckMinutes int = 30
@description('TAP365_HOLD_ALERT_HOURS: holds older than this many hours are listed in one notice to the admin.')
param holdAlertHours int = 24
@description('TAP365_PURGE_LOOKBACK_HOURS: post-delivery purge window when intelligence changes.')
param purgeLookbackHours int = 48
@description('TAP365_SENDER_HISTORY_DAYS: sender history window (newly observed senders).')
param senderHistoryDays int = 90
@description('TAP365_INTEL_CHECK_SECONDS: how often each instance checks the stored intelligence version (seconds).')
param intelCheckSeconds int = 300
@description('TAP365_DIRECTORY_REFRESH_MINUTES: how long a tenant\'s users and verified domains are cached (minutes).')
param directoryRefreshMinutes int = 60
@description('TAP365_RETENTION_DAYS: days verdicts, clicks and finished journal entries are kept.')
param retentionDays int = 90
@description('TAP365_AUDIT_RETENTION_DAYS: days the admin audit trail is kept.')
param auditRetentionDays int = 180
@description('TAP365_RDAP_ENABLED: look domain registration dates up by RDAP (outbound https to the registries\' RDAP servers).')
param rdapEnabled bool = true
@description('TAP365_RDAP_BOOTSTRAP: an RDAP bootstrap file (IANA format) to use instead of the shipped IANA copy (empty: shipped).')
param rdapBootstrap string = ''
@description('TAP365_RDAP_BUDGET_SECONDS: how long a message waits for its RDAP lookups (seconds).')
param rdapBudgetSeconds string = '2.0'
@description('TAP365_RDAP_CONCURRENCY: RDAP lookups running at once per instance.')
param rdapConcurrency int = 8
@description('TAP365_RDAP_RATE_PER_SECOND: requests per second to any one RDAP server, per instance.')
param rdapRatePerSecond string = '5.0'
@description('TAP365_RDAP_CACHE_DAYS: days a registration date is cached (shared by every tenant).')
param rdapCacheDays int = 30
@description('TAP365_RDAP_NEGATIVE_CACHE_SECONDS: seconds a failed RDAP lookup is remembered (0: not remembered).')
param rdapNegativeCacheSeconds int = 600
@description('TAP365_RDAP_MAX_RESPONSE_BYTES: largest RDAP answer read (bytes).')
param rdapMaxResponseBytes int = 1048576
@description('TAP365_CONSOLE_TOKEN_MINUTES: minutes a console form\'s CSRF token stays valid.')
@minValue(5)
@maxValue(1440)
param consoleTokenMinutes int = 480
@description('TAP365_CONSOLE_PAGE_SIZE: rows on one console list page.')
@minValue(10)
@maxValue(500)
param consolePageSize int = 50
@description('TAP365_CONSOLE_MAX_ROWS: records one console page or chart reads from a store at most.')
@minValue(100)
@maxValue(100000)
param consoleMaxRows int = 5000
@description('TAP365_SIEM_PRINCIPAL: service principals of the SIEM pull API (Proofpoint TAP SIEM API v2 compatible, /api/v2/siem/...), principal=tenant-id pairs, comma-separated. Their secrets (TAP365_SIEM_SECRET, principal=secret pairs) are the Key Vault secret siem-secret, stored only when siemSecret is given. Empty: the API refuses every request.')
param siemPrincipal string = ''
@description('TAP365_SIEM_SECRET: principal=secret pairs for siemPrincipal; stored as the Key Vault secret siem-secret only when given (a redeployment without it keeps the stored one).')
@secure()
param siemSecret string = ''
@description('TAP365_SIEM_MAX_EVENTS: records one SIEM query or Sentinel push window reads at most.')
@minValue(10)
@maxValue(1000000)
param siemMaxEvents int = 20000
@description('TAP365_SENTINEL_SETTLE_SECONDS: events younger than this wait for the next Sentinel push.')
@minValue(0)
@maxValue(3600)
param sentinelSettleSeconds int = 120
@description('TAP365_SENTINEL_BACKFILL_HOURS: how far back a tenant\'s first Sentinel push starts.')
@minValue(0)
@maxValue(2160)
param sentinelBackfillHours int = 24
@description('TAP365_CONSOLE_GRAPH_TIMEOUT_SECONDS: how long the console\'s health page waits for its Graph checks.')
param consoleGraphTimeoutSeconds string = '10.0'
@description('TAP365_CLICK_ANALYSIS_TIMEOUT_SECONDS: time budget (seconds) of one time-of-click analysis.')
param clickAnalysisTimeoutSeconds string = '8.0'
@description('TAP365_CLICK_RENDER: render pages whose content their scripts build in headless Chromium, when it is found (none on Flex Consumption: pages are read as HTML).')
param clickRender bool = true
@description('TAP365_CHROMIUM_PATH: the Chromium executable (empty: chromium, chromium-browser or google-chrome on PATH).')
param chromiumPath string = ''
@description('TAP365_CLICK_RENDER_TIMEOUT_SECONDS: longest render of one page (it also ends before the click analysis timeout).')
param clickRenderTimeoutSeconds string = '5.0'
@description('TAP365_CLICK_RENDER_MAX_REQUESTS: requests a rendered page may make beyond its document.')
param clickRenderMaxRequests int = 50
@description('TAP365_CLICK_RENDER_MAX_BYTES: bytes a rendered page\'s requests may bring in all.')
param clickRenderMaxBytes int = 8388608
@description('TAP365_CLICK_RENDER_CONCURRENCY: renders at once per instance.')
param clickRenderConcurrency int = 2
@description('TAP365_CLICK_ON_ERROR: when click-time analysis fails or times out: warn, allow or block.')
@allowed([
  'warn'
  'allow'
  'block'
])
param clickOnError string = 'warn'
@description('TAP365_CLICK_VERDICT_TTL_SECONDS: how long a click-time verdict is reused.')
param clickVerdictTtlSeconds int = 3600
@description('TAP365_CLICK_RATE_LIMIT: clicks per client per window before the redirector slows down.')
param clickRateLimit int = 50
@description('TAP365_CLICK_RATE_WINDOW_SECONDS: rate-limit window (seconds).')
param clickRateWindowSeconds int = 5
@description('TAP365_CLICK_PROCEED_TTL_SECONDS: lifetime of the proceed link on a warning page (seconds).')
param clickProceedTtlSeconds int = 300
@description('TAP365_SCAN_MAX_BYTES: most bytes the click-time scanner fetches from a page.')
param scanMaxBytes int = 2097152
@description('TAP365_SCAN_MAX_REDIRECTS: most redirects the click-time scanner follows.')
param scanMaxRedirects int = 5
@description('TAP365_STORAGE_PREFIX: prefix of every table, container and queue name.')
param storagePrefix string = 'tap'
@description('TAP365_STORAGE_MAX_DEQUEUE_COUNT (keep equal to host.json extensions.queues.maxDequeueCount).')
param storageMaxDequeueCount int = 5
@description('TAP365_STORAGE_MAX_ARTEFACT_BYTES: largest raw artefact kept in blob storage.')
param storageMaxArtefactBytes int = 157286400
@description('TAP365_GRAPH_AUTHORITY_HOST: Entra authority host (sovereign clouds differ).')
param graphAuthorityHost string = 'https://login.microsoftonline.com'
@description('TAP365_GRAPH_BASE_URL: Microsoft Graph base URL, no trailing slash.')
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'
@description('TAP365_GRAPH_MAX_CONCURRENCY: concurrent Graph requests per app (Exchange allows 4 per mailbox).')
param graphMaxConcurrency int = 4
@description('TAP365_GRAPH_MAX_RETRIES: retries on 429/503/504 (0-10).')
param graphMaxRetries int = 3
@description('TAP365_GRAPH_RETRY_DELAY: base backoff in seconds when Graph sends no Retry-After.')
param graphRetryDelay string = '3.0'
@description('TAP365_GRAPH_CONNECT_TIMEOUT (seconds).')
param graphConnectTimeout string = '10.0'
@description('TAP365_GRAPH_READ_TIMEOUT (seconds).')
param graphReadTimeout string = '60.0'
@description('TAP365_GRAPH_MAX_ATTACHMENT_BYTES: attachments downloaded through /$value up to this size.')
param graphMaxAttachmentBytes int = 52428800

param tags object = {}

// ---------------------------------------------------------------- names and constants

var suffix = substring(uniqueString(resourceGroup().id, namePrefix), 0, 6)
var baseName = '${namePrefix}-${suffix}'
var storageAccountName = take('${toLower(namePrefix)}st${suffix}', 24)
var keyVaultName = take('${toLower(namePrefix)}-kv-${suffix}', 24)
var deploymentContainerName = 'deploymentpackage'
var allTags = union(tags, { application: 'tap365' })

// Built-in role definition ids (the same in every tenant).
var roles = {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// Microsoft Graph and the application permissions (app roles) the service needs.
var graphAppId = '00000003-0000-0000-c000-000000000000'
var graphRoleIds = {
  'Mail.ReadWrite': 'e2a3a72e-5f79-4c64-b1b1-878b674786c9'
  'User.Read.All': 'df021288-bdef-4463-88db-98f22de89214'
  'Mail.Send': 'b633e1c5-b582-4048-a93e-9f11b44c7e96'
  'Organization.Read.All': '498476ce-e0fe-48b0-b801-37ba7e2685c6'
}

// ---------------------------------------------------------------- monitoring

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${baseName}-log'
  location: location
  tags: allTags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${baseName}-appi'
  location: location
  kind: 'web'
  tags: allTags
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true // telemetry only with the app's Entra identity
  }
}

// ---------------------------------------------------------------- identity

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${baseName}-id'
  location: location
  tags: allTags
}

// ---------------------------------------------------------------- storage

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the default network action follows storagePublicNetworkAccess (Deny when Disabled)
  // checkov:skip=CKV_AZURE_59: public network access is a documented parameter (storagePublicNetworkAccess); the default keeps the Flex Consumption app working without VNet integration
  // checkov:skip=CKV_AZURE_206: redundancy is a parameter (storageSku): ZRS by default, GRS/GZRS available
  // checkov:skip=CKV_AZURE_43: the name is computed (lowercase prefix + 'st' + 6 hash characters, at most 24), which checkov cannot evaluate
  name: storageAccountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: storageSku
  }
  tags: allTags
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // identity only: no account key is ever deployed
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    isLocalUserEnabled: false
    publicNetworkAccess: storagePublicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: storagePublicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// Flex Consumption runs the app from a package in this container.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Least privilege on the account: the host and the service use blobs (deployment package,
// policies, artefacts, host leases), queues (notifications, delayed work) and tables (journal,
// verdicts, audit, clicks...). No management-plane role and no Owner role.
resource blobRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageBlobDataContributor)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

resource queueRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageQueueDataContributor)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

resource tableRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource metricsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: appInsights
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// ---------------------------------------------------------------- SIEM events to Sentinel
// connectors/siem/sentinel.py pushes to the Logs Ingestion API: a data collection endpoint, a rule
// whose stream declares the event's columns (connectors/siem/events.py COLUMNS; tests/siem checks
// they agree), the custom table in the workspace, and the app's identity allowed to publish.

var sentinelTable = 'TAP365Events_CL'
var sentinelStream = 'Custom-${sentinelTable}'
var sentinelColumns = [
  {
    name: 'TimeGenerated'
    type: 'datetime'
  }
  {
    name: 'EventId'
    type: 'string'
  }
  {
    name: 'TenantId'
    type: 'string'
  }
  {
    name: 'EventType'
    type: 'string'
  }
  {
    name: 'Recipient'
    type: 'string'
  }
  {
    name: 'MessageId'
    type: 'string'
  }
  {
    name: 'InternetMessageId'
    type: 'string'
  }
  {
    name: 'Sender'
    type: 'string'
  }
  {
    name: 'Subject'
    type: 'string'
  }
  {
    name: 'Verdict'
    type: 'string'
  }
  {
    name: 'Action'
    type: 'string'
  }
  {
    name: 'Reasons'
    type: 'dynamic'
  }
  {
    name: 'ThreatPipelines'
    type: 'dynamic'
  }
  {
    name: 'Score'
    type: 'real'
  }
  {
    name: 'Url'
    type: 'string'
  }
  {
    name: 'ClickIp'
    type: 'string'
  }
  {
    name: 'UserAgent'
    type: 'string'
  }
  {
    name: 'IsScanner'
    type: 'boolean'
  }
  {
    name: 'Actor'
    type: 'string'
  }
  {
    name: 'Target'
    type: 'string'
  }
]

resource siemTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: sentinelTable
  properties: {
    plan: 'Analytics'
    schema: {
      name: sentinelTable
      columns: sentinelColumns
    }
  }
}

resource siemDce 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: '${baseName}-dce'
  location: location
  tags: allTags
  properties: {
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource siemDcr 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: '${baseName}-dcr-siem'
  location: location
  tags: allTags
  properties: {
    dataCollectionEndpointId: siemDce.id
    streamDeclarations: {
      '${sentinelStream}': {
        columns: sentinelColumns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          sentinelStream
        ]
        destinations: [
          'workspace'
        ]
        transformKql: 'source'
        outputStream: sentinelStream
      }
    ]
  }
  dependsOn: [
    siemTable
  ]
}

resource siemDcrRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: siemDcr
  name: guid(siemDcr.id, identity.id, roles.monitoringMetricsPublisher)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// ---------------------------------------------------------------- key vault

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: the default network action follows keyVaultPublicNetworkAccess (Deny when Disabled)
  // checkov:skip=CKV_AZURE_189: public network access is a documented parameter (keyVaultPublicNetworkAccess); Flex Consumption cannot resolve Key Vault references through a restricted vault
  name: keyVaultName
  location: location
  tags: allTags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: keyVaultPublicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: keyVaultPublicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
    }
  }
}

// Generated secrets (created by infra/scripts/bicep-post-deploy.sh, never by the template, so a
// redeployment never rotates them): the app reads them through Key Vault references.
var linkKeysSecretName = 'link-signing-keys'
var graphSecretName = 'graph-client-secret'
var webhookSecretName = 'admin-webhook-secret'
var sandboxTokenSecretName = 'sandbox-token'
var siemSecretName = 'siem-secret'

// The CAPE API token is the CAPE admin's, so the template generates nothing: it stores the
// token only when sandboxToken is given, and a redeployment without it keeps the stored one.
resource sandboxTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(sandboxToken)) {
  // checkov:skip=CKV_AZURE_41: the CAPE API token is issued by the CAPE admin and expires when they revoke it; a Key Vault expiry would only stop detonation
  // checkov:skip=CKV_AZURE_114: contentType is set below; checkov reads the body of a conditional resource (`= if (...)`) one level down and does not see it
  parent: vault
  name: sandboxTokenSecretName
  properties: {
    value: sandboxToken
    contentType: 'CAPEv2 API token (Authorization: Token <key>)'
  }
}

// The SIEM pull API's principal=secret pairs: stored only when siemSecret is given.
resource siemSecretResource 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(siemSecret)) {
  // checkov:skip=CKV_AZURE_41: the SIEM's credentials are rotated with the SIEM connector's configuration, not by expiry (an expired secret would only stop the SIEM reading)
  // checkov:skip=CKV_AZURE_114: contentType is set below; checkov reads the body of a conditional resource (`= if (...)`) one level down and does not see it
  parent: vault
  name: siemSecretName
  properties: {
    value: siemSecret
    contentType: 'tap365 SIEM API principal=secret pairs'
  }
}

resource vaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// ---------------------------------------------------------------- function app

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy for Flex Consumption exists only in some regions; queued work survives an instance loss
  name: '${baseName}-plan'
  location: location
  kind: 'functionapp'
  tags: allTags
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: client certificates do not apply: Graph posts notifications and users click links without one
  // checkov:skip=CKV_AZURE_222: the app must be public: Graph posts change notifications to it and users' browsers follow rewritten links to it
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero per function; always-ready instances are a cost choice, not a failover need (queues retry)
  // checkov:skip=CKV_AZURE_213: Flex Consumption has no App Service health check; Application Insights monitors the functions
  name: '${baseName}-func'
  location: location
  kind: 'functionapp,linux'
  tags: allTags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled' // Graph and users' browsers must reach it
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // Flex Consumption takes the runtime here, not from FUNCTIONS_WORKER_RUNTIME.
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
  dependsOn: [
    blobRole
    queueRole
    tableRole
  ]
}

// No publishing with basic credentials (FTP or SCM): deploy with Entra ID only.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

var functionHost = site.properties.defaultHostName
var redirectorHost = empty(redirectorDomain) ? functionHost : redirectorDomain
var consentCallbackUrl = 'https://${functionHost}/api/consent/callback'
var redirectorBaseUrl = 'https://${redirectorHost}/api/r'
var consentRedirectUris = empty(redirectorDomain) ? [consentCallbackUrl] : [consentCallbackUrl, 'https://${redirectorDomain}/api/consent/callback']
// App Service authentication's own sign-in callback (the console's Entra ID sign-in).
var authCallbackUrl = 'https://${functionHost}/.auth/login/aad/callback'
// Reached without an Entra ID sign-in: Graph's notifications, the consent flow, clicks on
// rewritten links, the function-key admin API and the health probe. Everything else (the console
// under /api/console) needs one.
var anonymousPaths = [
  '/api/graph/notifications'
  '/api/graph/lifecycle'
  '/api/consent/start'
  '/api/consent/callback'
  '/api/r/*'
  '/api/manage/*'
  '/api/health'
]

// ---------------------------------------------------------------- app registration

resource msGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

// Mail-Advanced.ReadWrite is resolved by value from Graph's own app roles at deploy time.
var mailAdvancedRoleId = first(filter(msGraph.appRoles, role => role.value == mailAdvancedRoleValue)).id

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: '${baseName}-app'
  displayName: appDisplayName
  signInAudience: 'AzureADMultipleOrgs'
  // The console's roles, assigned to people (Enterprise applications > Users and groups) in each
  // tenant; App Service authentication passes them on in the principal's "roles" claims.
  appRoles: [
    {
      allowedMemberTypes: ['User']
      description: 'Everything in the tap365 console: review, release and delete held mail, edit the policy, approve release requests.'
      displayName: 'tap365 administrator'
      id: guid('tap365-app-role', 'TAP365.Admin')
      isEnabled: true
      value: 'TAP365.Admin'
    }
    {
      allowedMemberTypes: ['User']
      description: 'Read-only use of the tap365 console: threats, held mail, clicks, audit, health.'
      displayName: 'tap365 analyst (read-only)'
      id: guid('tap365-app-role', 'TAP365.Analyst')
      isEnabled: true
      value: 'TAP365.Analyst'
    }
  ]
  web: {
    redirectUris: concat(consentRedirectUris, [authCallbackUrl])
    implicitGrantSettings: {
      enableAccessTokenIssuance: false
      // App Service authentication signs people in to the console with an ID token.
      enableIdTokenIssuance: true
    }
  }
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: [
        {
          id: graphRoleIds['Mail.ReadWrite']
          type: 'Role'
        }
        {
          id: mailAdvancedRoleId
          type: 'Role'
        }
        {
          id: graphRoleIds['User.Read.All']
          type: 'Role'
        }
        {
          id: graphRoleIds['Mail.Send']
          type: 'Role'
        }
        {
          id: graphRoleIds['Organization.Read.All']
          type: 'Role'
        }
      ]
    }
  ]
}

resource appPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

// ---------------------------------------------------------------- app settings

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov reads every sites/config resource as the `web` config; these are app settings:
  // checkov:skip=CKV_AZURE_13: App Service authentication is configured by the authsettingsV2 resource (authSettings below), with Graph's, the consent and the click endpoints excluded
  // checkov:skip=CKV_AZURE_63: App Service HTTP logs do not exist on Flex Consumption; requests go to Application Insights
  // checkov:skip=CKV_AZURE_65: App Service detailed error pages do not exist on Flex Consumption; errors go to Application Insights
  // checkov:skip=CKV_AZURE_66: App Service failed request tracing does not exist on Flex Consumption; failures go to Application Insights
  // checkov:skip=CKV_AZURE_80: .NET Framework does not apply: the app runs Python 3.11
  // checkov:skip=CKV_AZURE_88: Flex Consumption has no Azure Files mount; state lives in the storage account's blobs, queues and tables
  // checkov:skip=CKV_AZURE_222: the app must be public: Graph posts change notifications to it and users' browsers follow rewritten links to it
  parent: site
  name: 'appsettings'
  properties: {
    // Functions host (identity-based AzureWebJobsStorage: no connection string, no key)
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
    // connectors/settings.py
    TAP365_STATE_DIR: '/tmp/tap365'
    TAP365_REDIRECT_BASE_URL: redirectorBaseUrl
    TAP365_PUBLIC_BASE_URL: 'https://${functionHost}'
    TAP365_LINK_SIGNING_KEYS: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${linkKeysSecretName}/)'
    TAP365_LINK_MAX_AGE_DAYS: string(linkMaxAgeDays)
    TAP365_POLICY_FILE: policyFile
    TAP365_INTEL_FEEDS: intelFeeds
    TAP365_HASH_FEEDS: hashFeeds
    TAP365_YARA_RULES: yaraRules
    TAP365_HOME_TENANT_ID: tenant().tenantId
    TAP365_ALLOWED_TENANTS: allowedTenants
    TAP365_PROTECTED_GROUP_ID: protectedGroupId
    TAP365_ADMIN_NOTIFY_TO: adminNotifyTo
    TAP365_ADMIN_NOTIFY_FROM: adminNotifyFrom
    TAP365_ADMIN_WEBHOOK_URL: adminWebhookUrl
    TAP365_ADMIN_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${webhookSecretName}/)'
    TAP365_NOTIFICATION_MAX_BODY_BYTES: string(notificationMaxBodyBytes)
    TAP365_NOTIFICATION_MAX_PER_REQUEST: string(notificationMaxPerRequest)
    TAP365_NOTIFICATION_MAX_UNKNOWN: string(notificationMaxUnknown)
    TAP365_CLAIM_LEASE_SECONDS: string(claimLeaseSeconds)
    TAP365_ANALYSIS_TIMEOUT_SECONDS: string(analysisTimeoutSeconds)
    TAP365_HOLD_RECHECK_MINUTES: string(holdRecheckMinutes)
    TAP365_HOLD_ALERT_HOURS: string(holdAlertHours)
    TAP365_PURGE_LOOKBACK_HOURS: string(purgeLookbackHours)
    TAP365_SENDER_HISTORY_DAYS: string(senderHistoryDays)
    TAP365_INTEL_CHECK_SECONDS: string(intelCheckSeconds)
    TAP365_DIRECTORY_REFRESH_MINUTES: string(directoryRefreshMinutes)
    TAP365_RETENTION_DAYS: string(retentionDays)
    TAP365_AUDIT_RETENTION_DAYS: string(auditRetentionDays)
    // RDAP lookups go out over https to the registries (no egress restriction on Flex Consumption
    // without a VNet; with one, allow outbound 443 to the servers in connectors/rdap/data/dns.json).
    TAP365_RDAP_ENABLED: string(rdapEnabled)
    TAP365_RDAP_BOOTSTRAP: rdapBootstrap
    TAP365_RDAP_BUDGET_SECONDS: rdapBudgetSeconds
    TAP365_RDAP_CONCURRENCY: string(rdapConcurrency)
    TAP365_RDAP_RATE_PER_SECOND: rdapRatePerSecond
    TAP365_RDAP_CACHE_DAYS: string(rdapCacheDays)
    TAP365_RDAP_NEGATIVE_CACHE_SECONDS: string(rdapNegativeCacheSeconds)
    TAP365_RDAP_MAX_RESPONSE_BYTES: string(rdapMaxResponseBytes)
    // The admin console (TAP365_CONSOLE_DEV_IDENTITY is for development machines: never deployed)
    TAP365_CONSOLE_TOKEN_MINUTES: string(consoleTokenMinutes)
    TAP365_CONSOLE_PAGE_SIZE: string(consolePageSize)
    TAP365_CONSOLE_MAX_ROWS: string(consoleMaxRows)
    TAP365_CONSOLE_GRAPH_TIMEOUT_SECONDS: consoleGraphTimeoutSeconds
    // SIEM events (connectors/siem): the pull API's principals and the Sentinel push
    TAP365_SIEM_PRINCIPAL: siemPrincipal
    TAP365_SIEM_SECRET: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${siemSecretName}/)'
    TAP365_SIEM_MAX_EVENTS: string(siemMaxEvents)
    TAP365_SENTINEL_DCE: siemDce.properties.logsIngestion.endpoint
    TAP365_SENTINEL_DCR_ID: siemDcr.properties.immutableId
    TAP365_SENTINEL_STREAM: sentinelStream
    TAP365_SENTINEL_SETTLE_SECONDS: string(sentinelSettleSeconds)
    TAP365_SENTINEL_BACKFILL_HOURS: string(sentinelBackfillHours)
    TAP365_CLICK_ANALYSIS_TIMEOUT_SECONDS: clickAnalysisTimeoutSeconds
    TAP365_CLICK_ON_ERROR: clickOnError
    TAP365_CLICK_RENDER: string(clickRender)
    TAP365_CHROMIUM_PATH: chromiumPath
    TAP365_CLICK_RENDER_TIMEOUT_SECONDS: clickRenderTimeoutSeconds
    TAP365_CLICK_RENDER_MAX_REQUESTS: string(clickRenderMaxRequests)
    TAP365_CLICK_RENDER_MAX_BYTES: string(clickRenderMaxBytes)
    TAP365_CLICK_RENDER_CONCURRENCY: string(clickRenderConcurrency)
    TAP365_CLICK_VERDICT_TTL_SECONDS: string(clickVerdictTtlSeconds)
    TAP365_CLICK_RATE_LIMIT: string(clickRateLimit)
    TAP365_CLICK_RATE_WINDOW_SECONDS: string(clickRateWindowSeconds)
    TAP365_CLICK_PROCEED_TTL_SECONDS: string(clickProceedTtlSeconds)
    TAP365_SCAN_MAX_BYTES: string(scanMaxBytes)
    TAP365_SCAN_MAX_REDIRECTS: string(scanMaxRedirects)
    TAP365_SANDBOX_URL: sandboxUrl
    TAP365_SANDBOX_TOKEN: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${sandboxTokenSecretName}/)'
    // connectors/storage/config.py (the account comes from AzureWebJobsStorage__*)
    TAP365_STORAGE_PREFIX: storagePrefix
    TAP365_STORAGE_MAX_DEQUEUE_COUNT: string(storageMaxDequeueCount)
    TAP365_STORAGE_MAX_ARTEFACT_BYTES: string(storageMaxArtefactBytes)
    // connectors/graph/config.py
    TAP365_GRAPH_AUTHORITY_HOST: graphAuthorityHost
    TAP365_GRAPH_BASE_URL: graphBaseUrl
    TAP365_GRAPH_CLIENT_ID: app.appId
    TAP365_GRAPH_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${graphSecretName}/)'
    TAP365_GRAPH_CONNECT_TIMEOUT: graphConnectTimeout
    TAP365_GRAPH_READ_TIMEOUT: graphReadTimeout
    TAP365_GRAPH_MAX_CONCURRENCY: string(graphMaxConcurrency)
    TAP365_GRAPH_MAX_RETRIES: string(graphMaxRetries)
    TAP365_GRAPH_RETRY_DELAY: graphRetryDelay
    TAP365_GRAPH_MAX_ATTACHMENT_BYTES: string(graphMaxAttachmentBytes)
  }
  dependsOn: [
    vaultRole
    metricsRole
    sandboxTokenSecret // so the reference resolves on the first start when the token is given
    siemSecretResource // likewise the SIEM API's secrets
  ]
}

// ---------------------------------------------------------------- console sign-in

// App Service authentication (Entra ID) in front of the console: it signs people in, sets the
// X-MS-CLIENT-PRINCIPAL headers the console reads (and strips any a client sent) and sets
// WEBSITE_AUTH_ENABLED, without which the console believes no principal header.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov reads every sites/config resource as the `web` config; this one is authsettingsV2:
  // checkov:skip=CKV_AZURE_63: App Service HTTP logs do not exist on Flex Consumption; requests go to Application Insights
  // checkov:skip=CKV_AZURE_65: App Service detailed error pages do not exist on Flex Consumption; errors go to Application Insights
  // checkov:skip=CKV_AZURE_66: App Service failed request tracing does not exist on Flex Consumption; failures go to Application Insights
  // checkov:skip=CKV_AZURE_80: .NET Framework does not apply: the app runs Python 3.11
  // checkov:skip=CKV_AZURE_13: this resource is App Service authentication (authsettingsV2: platform enabled, Entra ID provider); checkov looks for the classic web config's siteAuthEnabled
  // checkov:skip=CKV_AZURE_88: Flex Consumption has no Azure Files mount; state lives in the storage account's blobs, queues and tables
  // checkov:skip=CKV_AZURE_222: the app must be public: Graph posts change notifications to it and users' browsers follow rewritten links to it
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: anonymousPaths
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: app.appId
          // The same app registration and secret the service uses for Graph (a Key Vault reference).
          clientSecretSettingName: 'TAP365_GRAPH_CLIENT_SECRET'
          // Multi-tenant: people of every onboarded tenant sign in; the console serves each only its
          // own tenant's data and refuses tenants the service does not protect.
          openIdIssuer: 'https://login.microsoftonline.com/organizations/v2.0'
        }
        validation: {
          allowedAudiences: [
            app.appId
            'api://${app.appId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
  dependsOn: [
    appSettings // the secret setting it names must exist first
  ]
}

// ---------------------------------------------------------------- outputs

output functionAppName string = site.name
output functionUrl string = 'https://${functionHost}'
output redirectorBaseUrl string = redirectorBaseUrl
output consentCallbackUrl string = consentCallbackUrl
@description('Open as a Global/Privileged Role Administrator of each customer tenant (add ?tenant=<id or domain> to pin it): the function app sets its consent cookie and sends the admin on to Entra with a signed state.')
output adminConsentUrl string = 'https://${functionHost}/api/consent/start'
@description('The admin console (Entra ID sign-in; assign people the TAP365.Admin or TAP365.Analyst role).')
output consoleUrl string = 'https://${functionHost}/api/console/'
output appClientId string = app.appId
output keyVaultName string = vault.name
output storageAccountName string = storage.name
output identityClientId string = identity.properties.clientId
