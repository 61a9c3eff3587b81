# The multi-tenant app registration (Microsoft Graph application permissions) and its consent
# redirect URI. Every customer tenant grants admin consent with the URL in the outputs.

data "azuread_client_config" "current" {}

# Microsoft Graph's service principal: its app_role_ids map resolves permission values to ids
# at plan time, so no id is guessed (Mail-Advanced.ReadWrite in particular).
data "azuread_service_principal" "msgraph" {
  client_id = "00000003-0000-0000-c000-000000000000"
}

locals {
  # Known ids, checked against the live service principal below.
  graph_role_ids = {
    "Mail.ReadWrite"        = "e2a3a72e-5f79-4c64-b1b1-878b674786c9"
    "User.Read.All"         = "df021288-bdef-4463-88db-98f22de89214"
    "Mail.Send"             = "b633e1c5-b582-4048-a93e-9f11b44c7e96"
    # Read the tenant's verified domains (internal domains); optional: without it the service
    # falls back to the domains of the users' addresses.
    "Organization.Read.All" = "498476ce-e0fe-48b0-b801-37ba7e2685c6"
  }
  mail_advanced_role_id = data.azuread_service_principal.msgraph.app_role_ids[var.mail_advanced_role_value]
}

resource "azuread_application" "tap365" {
  display_name     = var.app_display_name != "" ? var.app_display_name : "tap365 ${var.name_prefix}"
  sign_in_audience = "AzureADMultipleOrgs"
  owners           = [data.azuread_client_config.current.object_id]

  required_resource_access {
    resource_app_id = "00000003-0000-0000-c000-000000000000"

    resource_access {
      id   = local.graph_role_ids["Mail.ReadWrite"]
      type = "Role"
    }
    resource_access {
      id   = local.mail_advanced_role_id
      type = "Role"
    }
    resource_access {
      id   = local.graph_role_ids["User.Read.All"]
      type = "Role"
    }
    resource_access {
      id   = local.graph_role_ids["Mail.Send"]
      type = "Role"
    }
    resource_access {
      id   = local.graph_role_ids["Organization.Read.All"]
      type = "Role"
    }
  }

  # The console's roles, assigned to people (Enterprise applications > Users and groups) in each
  # tenant; App Service authentication passes them on in the principal's "roles" claims.
  app_role {
    allowed_member_types = ["User"]
    description          = "Everything in the tap365 console: review, release and delete held mail, edit the policy, approve release requests."
    display_name         = "tap365 administrator"
    enabled              = true
    id                   = uuidv5("url", "https://tap365.invalid/app-roles/TAP365.Admin")
    value                = "TAP365.Admin"
  }

  app_role {
    allowed_member_types = ["User"]
    description          = "Read-only use of the tap365 console: threats, held mail, clicks, audit, health."
    display_name         = "tap365 analyst (read-only)"
    enabled              = true
    id                   = uuidv5("url", "https://tap365.invalid/app-roles/TAP365.Analyst")
    value                = "TAP365.Analyst"
  }

  web {
    implicit_grant {
      access_token_issuance_enabled = false
      # App Service authentication signs people in to the console with an ID token.
      id_token_issuance_enabled = true
    }
  }

  lifecycle {
    # The redirect URIs are managed by azuread_application_redirect_uris below (they need the
    # function host, which needs this app's client id: no cycle this way).
    ignore_changes = [web[0].redirect_uris]
    precondition {
      condition = alltrue([
        for name, id in local.graph_role_ids : data.azuread_service_principal.msgraph.app_role_ids[name] == id
      ])
      error_message = "A Microsoft Graph app role id differs from the one in app_registration.tf."
    }
  }
}

resource "azuread_application_redirect_uris" "consent" {
  application_id = azuread_application.tap365.id
  type           = "Web"
  redirect_uris = distinct(compact([
    local.consent_callback_url,
    local.auth_callback_url,
    var.redirector_domain != "" ? "https://${var.redirector_domain}/api/consent/callback" : "",
  ]))
}

resource "azuread_service_principal" "tap365" {
  client_id = azuread_application.tap365.client_id
  owners    = [data.azuread_client_config.current.object_id]
}

resource "time_rotating" "graph_secret" {
  rotation_days = var.client_secret_rotation_days
}

resource "azuread_application_password" "tap365" {
  application_id = azuread_application.tap365.id
  display_name   = "tap365 function app (Terraform)"
  end_date       = timeadd(time_rotating.graph_secret.id, "${var.client_secret_rotation_days * 24 + 720}h")
  rotate_when_changed = {
    rotation = time_rotating.graph_secret.id
  }
}
