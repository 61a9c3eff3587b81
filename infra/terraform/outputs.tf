output "function_app_name" {
  value = azurerm_function_app_flex_consumption.func.name
}

output "function_url" {
  value = "https://${local.function_host}"
}

output "redirector_base_url" {
  value = local.redirector_base_url
}

output "consent_callback_url" {
  value = local.consent_callback_url
}

output "admin_consent_url" {
  description = "Open as a Global/Privileged Role Administrator of each customer tenant (add ?tenant=<id or domain> to pin it): the function app sets its consent cookie and sends the admin on to Entra with a signed state."
  value       = "https://${local.function_host}/api/consent/start"
}

output "app_client_id" {
  value = azuread_application.tap365.client_id
}

output "key_vault_name" {
  value = azurerm_key_vault.kv.name
}

output "storage_account_name" {
  value = azurerm_storage_account.st.name
}

output "identity_client_id" {
  value = azurerm_user_assigned_identity.app.client_id
}

output "console_url" {
  description = "The admin console (Entra ID sign-in; assign people the TAP365.Admin or TAP365.Analyst role)."
  value       = "https://${local.function_host}/api/console/"
}
