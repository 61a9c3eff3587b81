#!/usr/bin/env bash
# After `az deployment group create ... -f infra/bicep/main.bicep`: put the secrets the app
# reads through Key Vault references into the vault, once. (Terraform does this itself.)
#
#   infra/scripts/bicep-post-deploy.sh RESOURCE_GROUP [DEPLOYMENT_NAME]
#
# * link-signing-keys: "k1:<32 random bytes, base64>" unless the secret exists (never rotated
#   here; rotation: infra/docs/keys.md)
# * admin-webhook-secret: 32 random bytes (hex), the admin webhook's HMAC key, unless it exists
# * graph-client-secret: a new client secret of the app registration (the Graph Bicep extension
#   cannot create credentials) unless the secret exists; --rotate-client-secret forces a new one
#
# Needs: az (logged in), openssl; the caller needs "Key Vault Secrets Officer" on the vault
# (granted below to the signed-in user, scoped to this vault) and owner rights on the app.
set -euo pipefail
rg="${1:?usage: $0 RESOURCE_GROUP [DEPLOYMENT_NAME] [--rotate-client-secret]}"
deployment="${2:-main}"
rotate=false
for arg in "$@"; do [ "$arg" = "--rotate-client-secret" ] && rotate=true; done

out() { az deployment group show -g "$rg" -n "$deployment" --query "properties.outputs.$1.value" -o tsv; }
vault="$(out keyVaultName)"
app_id="$(out appClientId)"
func="$(out functionAppName)"
vault_id="$(az keyvault show -n "$vault" --query id -o tsv)"

me="$(az ad signed-in-user show --query id -o tsv 2>/dev/null || true)"
if [ -n "$me" ]; then
  az role assignment create --assignee-object-id "$me" --assignee-principal-type User \
    --role "Key Vault Secrets Officer" --scope "$vault_id" -o none 2>/dev/null || true
fi

exists() { az keyvault secret show --vault-name "$vault" -n "$1" --query id -o tsv >/dev/null 2>&1; }

# RBAC assignments take a minute or two to apply.
for _ in $(seq 1 12); do
  az keyvault secret list --vault-name "$vault" -o none 2>/dev/null && break
  sleep 10
done

if ! exists link-signing-keys; then
  az keyvault secret set --vault-name "$vault" -n link-signing-keys -o none \
    --content-type "tap365 link signing keys kid:base64[,kid:base64]" \
    --value "k1:$(openssl rand -base64 32)"
  echo "link-signing-keys created (kid k1)"
fi

if ! exists admin-webhook-secret; then
  az keyvault secret set --vault-name "$vault" -n admin-webhook-secret -o none \
    --content-type "tap365 admin webhook HMAC-SHA256 key" \
    --value "$(openssl rand -hex 32)"
  echo "admin-webhook-secret created (give it to the webhook receiver)"
fi

if $rotate || ! exists graph-client-secret; then
  end="$(date -u -d '+180 days' +%Y-%m-%dT%H:%M:%SZ)"
  secret="$(az ad app credential reset --id "$app_id" --append --display-name "tap365 function app" \
    --end-date "$end" --query password -o tsv)"
  az keyvault secret set --vault-name "$vault" -n graph-client-secret -o none \
    --content-type "Entra ID client secret of the tap365 app registration" --expires "$end" \
    --value "$secret"
  unset secret
  echo "graph-client-secret set (expires $end)"
fi

# Key Vault references are resolved again on restart.
az functionapp restart -g "$rg" -n "$func" -o none
echo "done: run 'tap365 doctor' (infra/docs/doctor.md), then open the admin consent URL:"
out adminConsentUrl
