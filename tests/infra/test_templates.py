"""Both templates parse and describe the same deployment: the same parameters and outputs, the
Graph application permissions `tap365 doctor` checks, and the security settings of the issue."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import BICEP_FILES, TF_FILES, bicep_resources, tf_blocks, tf_named

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
#: Microsoft Graph application permission (app role) ids; Mail-Advanced.ReadWrite is resolved
#: by value at deploy time in both templates.
KNOWN_ROLE_IDS = {
    "Mail.ReadWrite": "e2a3a72e-5f79-4c64-b1b1-878b674786c9",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "Mail.Send": "b633e1c5-b582-4048-a93e-9f11b44c7e96",
    "Organization.Read.All": "498476ce-e0fe-48b0-b801-37ba7e2685c6",
}
#: Terraform-only variables (Bicep has no equivalent or takes the value from the scope).
TF_ONLY_VARIABLES = {"resource_group_name", "client_secret_rotation_days"}
#: Same parameter under another name: Bicep -> Terraform.
RENAMED = {"storageSku": "storage_replication_type"}


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def bicep_main(bicep: dict[str, Any]) -> dict[str, Any]:
    return bicep["infra/bicep/main.bicep"]


def test_there_are_templates():
    assert [p.name for p in BICEP_FILES] == ["main.bicep"]
    assert {p.name for p in TF_FILES} >= {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}


def test_bicep_uses_the_graph_extension(bicep):
    assert bicep_main(bicep)["extensions"] == ["extension microsoftGraphV1"]


def test_same_parameters(bicep, terraform):
    params = {RENAMED.get(n, snake(n)) for n in bicep_main(bicep)["parameters"]}
    variables = set(tf_named(terraform, "variable")) - TF_ONLY_VARIABLES
    assert params == variables, f"only Bicep: {sorted(params - variables)}; only Terraform: {sorted(variables - params)}"
    for required in ("name_prefix", "location", "redirector_domain", "allowed_tenants", "sandbox_url"):
        assert required in variables


def test_same_outputs(bicep, terraform):
    outputs = {snake(n) for n in bicep_main(bicep)["outputs"]}
    assert outputs == set(tf_named(terraform, "output"))
    assert {"function_url", "redirector_base_url", "admin_consent_url"} <= outputs


def test_admin_consent_url(bicep, terraform):
    bicep_url = str(bicep_main(bicep)["outputs"]["adminConsentUrl"]["value"])
    tf_url = str(tf_named(terraform, "output")["admin_consent_url"]["value"])
    # Consent starts at the function app (it sets the cookie the signed state is bound to);
    # Entra's own URL would come back without a state and be refused.
    assert bicep_url == "https://${functionHost}/api/consent/start"
    assert tf_url == "https://${local.function_host}/api/consent/start"
    callback = str(tf_blocks(terraform, "resource")[("azuread_application_redirect_uris", "consent")])
    assert "/api/consent/callback" in callback
    assert bicep_main(bicep)["variables"]["consentCallbackUrl"]["value"] == "https://${functionHost}/api/consent/callback"


def _doctor_roles() -> set[str]:
    from connectors.graph.doctor import OPTIONAL_ROLES, REQUIRED_ROLES

    return set(REQUIRED_ROLES) | set(OPTIONAL_ROLES)


def test_bicep_app_registration(bicep):
    main = bicep_main(bicep)
    resources = bicep_resources(bicep)
    app = next(r for r in resources.values() if r["type"] == "Microsoft.Graph/applications")
    assert app["config"]["signInAudience"] == "AzureADMultipleOrgs"
    access = app["config"]["requiredResourceAccess"]
    assert [a["resourceAppId"] for a in access] == ["graphAppId"]
    assert main["variables"]["graphAppId"]["value"] == GRAPH_APP_ID
    assert all(r["type"] == "Role" for r in access[0]["resourceAccess"])
    assert len(access[0]["resourceAccess"]) == len(_doctor_roles())
    ids = {k.strip("'"): v for k, v in main["variables"]["graphRoleIds"]["value"].items()}
    assert ids == KNOWN_ROLE_IDS
    advanced = main["parameters"]["mailAdvancedRoleValue"]["default"]
    assert set(ids) | {advanced} == _doctor_roles()
    lookup = next(r for r in resources.values() if r["type"] == "Microsoft.Graph/servicePrincipals" and r["existing"])
    assert lookup["config"]["appId"] == "graphAppId"


def test_terraform_app_registration(terraform):
    resources = tf_blocks(terraform, "resource")
    app = resources[("azuread_application", "tap365")]
    assert app["sign_in_audience"] == "AzureADMultipleOrgs"
    (access,) = app["required_resource_access"]
    assert access["resource_app_id"] == GRAPH_APP_ID
    assert len(access["resource_access"]) == len(_doctor_roles())
    assert all(r["type"] == "Role" for r in access["resource_access"])
    graph_sp = tf_blocks(terraform, "data")[("azuread_service_principal", "msgraph")]
    assert graph_sp["client_id"] == GRAPH_APP_ID
    locals_ = {}
    for parsed in terraform.values():
        for block in parsed.get("locals") or []:
            locals_.update(block)
    assert locals_["graph_role_ids"] == KNOWN_ROLE_IDS
    assert "app_role_ids[var.mail_advanced_role_value]" in locals_["mail_advanced_role_id"]
    advanced = tf_named(terraform, "variable")["mail_advanced_role_value"]["default"]
    assert set(KNOWN_ROLE_IDS) | {advanced} == _doctor_roles()


def test_bicep_security_settings(bicep):
    res = {r["type"]: r["config"] for r in bicep_resources(bicep).values()}
    storage = res["Microsoft.Storage/storageAccounts"]["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    assert storage["minimumTlsVersion"] == "TLS1_2"
    assert storage["supportsHttpsTrafficOnly"] is True
    vault = res["Microsoft.KeyVault/vaults"]["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enablePurgeProtection"] is True
    site = res["Microsoft.Web/sites"]
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "UserAssigned"
    props = site["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    assert props["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert props["functionAppConfig"]["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert res["Microsoft.Web/serverfarms"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert res["Microsoft.Insights/components"]["properties"]["DisableLocalAuth"] is True


def test_terraform_security_settings(terraform):
    res = {t: body for (t, _), body in tf_blocks(terraform, "resource").items()}
    storage = res["azurerm_storage_account"]
    assert storage["shared_access_key_enabled"] is False
    assert storage["allow_nested_items_to_be_public"] is False
    assert storage["min_tls_version"] == "TLS1_2"
    assert storage["https_traffic_only_enabled"] is True
    vault = res["azurerm_key_vault"]
    assert vault["enable_rbac_authorization"] is True
    assert vault["purge_protection_enabled"] is True
    func = res["azurerm_function_app_flex_consumption"]
    assert func["https_only"] is True
    assert func["runtime_name"] == "python" and func["runtime_version"] == "3.11"
    assert func["storage_authentication_type"] == "UserAssignedIdentity"
    assert func["webdeploy_publish_basic_authentication_enabled"] is False
    assert func["site_config"][0]["minimum_tls_version"] == "1.2"
    assert res["azurerm_service_plan"]["sku_name"] == "FC1"
    assert res["azurerm_application_insights"]["local_authentication_disabled"] is True


def _bicep_roles(bicep) -> set[str]:
    roles = bicep_main(bicep)["variables"]["roles"]["value"]
    used = set()
    for res in bicep_resources(bicep).values():
        if res["type"] == "Microsoft.Authorization/roleAssignments":
            used.add(str(res["config"]["properties"]["roleDefinitionId"]))
    return {name for name in roles if any(f"'operand_2': '{name}'" in u for u in used)}


def test_least_privilege_roles(bicep, terraform):
    assert _bicep_roles(bicep) == {
        "storageBlobDataContributor", "storageQueueDataContributor", "storageTableDataContributor",
        "keyVaultSecretsUser", "monitoringMetricsPublisher",
    }
    tf_roles = {
        body["role_definition_name"]
        for (t, _), body in tf_blocks(terraform, "resource").items() if t == "azurerm_role_assignment"
    }
    # The deployer's Secrets Officer lets Terraform write the secrets; the app gets no more.
    assert tf_roles == {
        "Storage Blob Data Contributor", "Storage Queue Data Contributor", "Storage Table Data Contributor",
        "Key Vault Secrets User", "Monitoring Metrics Publisher", "Key Vault Secrets Officer",
    }
    assert not any("Owner" in r for r in tf_roles)


_REF = re.compile(r"\b(local\.[A-Za-z0-9_]+|azurerm_[a-z_]+\.[A-Za-z0-9_]+|azuread_[a-z_]+\.[A-Za-z0-9_]+)")


def test_terraform_resources_do_not_reference_themselves(terraform):
    """Terraform rejects a resource whose arguments need its own attributes (e.g. an app setting
    built from the app's host name); the parsers accept it, so check here, through locals."""
    locals_: dict[str, Any] = {}
    for parsed in terraform.values():
        for block in parsed.get("locals") or []:
            locals_.update(block)

    def refs(value: Any) -> set[str]:
        seen: set[str] = set()
        todo = set(_REF.findall(json_dump(value)))
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            if ref.startswith("local."):
                todo |= set(_REF.findall(json_dump(locals_.get(ref.removeprefix("local."), ""))))
        return seen

    for (rtype, name), body in tf_blocks(terraform, "resource").items():
        args = {k: v for k, v in body.items() if k != "lifecycle"}
        assert f"{rtype}.{name}" not in refs(args), f"{rtype}.{name} refers to itself (a cycle)"


def json_dump(value: Any) -> str:
    import json

    return json.dumps(value, default=str)
