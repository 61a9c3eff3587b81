"""Every app setting the code reads is deployed by both templates under the same name, and no
template sets a setting the code does not read (beyond the Functions platform's own).

The code's list is derived from the code (tests/infra/code_settings.py), so settings added to
``connectors/`` later are checked without editing this file: deploy them in both templates, or
say here why not (NOT_DEPLOYED)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from .code_settings import ROOT
from .conftest import bicep_app_settings, tf_app_settings

#: Settings the Functions host and platform read (the code does not, or not only).
PLATFORM = {
    "AzureWebJobsStorage__accountName": "host storage through the managed identity (the stores read it too)",
    "AzureWebJobsStorage__credential": "'managedidentity': identity-based host storage",
    "AzureWebJobsStorage__clientId": "which user-assigned identity the host uses (the stores read it too)",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "host and worker telemetry",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "telemetry with Entra ID (local auth is disabled)",
}

#: Read by the code but deliberately not deployed, with the reason (infra/docs/settings.md).
NOT_DEPLOYED = {
    "TAP365_DEFAULT_TENANT_ID": "command line only (the tenant `tap365` puts in links)",
    "TAP365_CLAMAV": "no ClamAV on Flex Consumption (no system packages); scan with ClamAV where the CLI runs",
    "TAP365_CLAMAV_DATABASES": "no ClamAV on Flex Consumption",
    "TAP365_SOFFICE": "no LibreOffice on Flex Consumption (no system packages); Safe File PDF conversion runs "
                      "where LibreOffice is installed",
    "TAP365_BOXJS": "no Node.js in the Flex Consumption Python worker; box-js runs where the CLI runs",
    "TAP365_STORAGE_CONNECTION_STRING": "local development (Azurite): a connection string carries an account key",
    "TAP365_STORAGE_ACCOUNT_NAME": "the stores use the host's account through AzureWebJobsStorage__*",
    "TAP365_STORAGE_BLOB_URI": "derived from the account name",
    "TAP365_STORAGE_QUEUE_URI": "derived from the account name",
    "TAP365_STORAGE_TABLE_URI": "derived from the account name",
    "TAP365_STORAGE_CLIENT_ID": "AzureWebJobsStorage__clientId names the identity",
    "AzureWebJobsStorage": "a connection string carries an account key; identity-based __accountName is used",
    "AzureWebJobsStorage__blobServiceUri": "derived from __accountName",
    "AzureWebJobsStorage__queueServiceUri": "derived from __accountName",
    "AzureWebJobsStorage__tableServiceUri": "derived from __accountName",
    "TAP365_GRAPH_CERTIFICATE_PATH": "Flex Consumption cannot load certificates into files; the client secret "
                                     "comes from Key Vault (infra/docs/keys.md)",
    "TAP365_GRAPH_CERTIFICATE_THUMBPRINT": "see TAP365_GRAPH_CERTIFICATE_PATH",
    "TAP365_GRAPH_CERTIFICATE_PASSWORD": "see TAP365_GRAPH_CERTIFICATE_PATH",
    "TAP365_GRAPH_CA_BUNDLE": "tests against m365sim only (Entra and Graph use public CAs)",
    "TAP365_SCAN_ALLOW_NETWORKS": "tests only: lets the click-time scanner fetch private addresses (SSRF guard)",
    "TAP365_CONSOLE_DEV_IDENTITY": "development machines only: App Service authentication signs people in to the "
                                   "console in Azure (the console ignores this while it is on)",
}

#: Deployed for a parameter the issue asks for, before the code reads it. Remove an entry as
#: soon as the code reads the name (test_pending_settings_are_still_pending says so).
PENDING: dict[str, str] = {}

#: Settings the Flex Consumption plan rejects or that would bring back keys.
FORBIDDEN = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption: functionAppConfig.runtime",
    "FUNCTIONS_EXTENSION_VERSION": "Flex Consumption: not supported",
    "WEBSITE_RUN_FROM_PACKAGE": "Flex Consumption: functionAppConfig.deployment",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "Flex Consumption: no Azure Files",
    "WEBSITE_CONTENTSHARE": "Flex Consumption: no Azure Files",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "Flex Consumption: remote build is a deployment option",
    "AzureWebJobsStorage": "connection string with an account key",
    "TAP365_STORAGE_CONNECTION_STRING": "connection string with an account key",
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def templates(bicep: dict[str, Any], terraform: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"bicep": bicep_app_settings(bicep), "terraform": tf_app_settings(terraform)}


def _fmt(names: set[str], why: dict[str, str]) -> str:
    return "\n".join(f"  {n}  ({why.get(n, '')})" for n in sorted(names))


def test_code_settings_are_discovered(code_settings):
    assert not code_settings.import_errors, (
        "modules under connectors/ failed to import, so their settings cannot be checked:\n"
        + json.dumps(code_settings.import_errors, indent=1)
    )
    for name in ("TAP365_REDIRECT_BASE_URL", "TAP365_LINK_SIGNING_KEYS", "TAP365_GRAPH_CLIENT_ID",
                 "TAP365_STORAGE_PREFIX", "AzureWebJobsStorage__accountName"):
        assert name in code_settings.names
    assert {"TAP365_LINK_SIGNING_KEYS", "TAP365_GRAPH_CLIENT_SECRET"} <= code_settings.secrets


@pytest.mark.parametrize("tool", ["bicep", "terraform"])
def test_template_sets_every_setting_the_code_reads(tool, templates, code_settings):
    deployed = set(templates[tool])
    missing = set(code_settings.names) - deployed - set(NOT_DEPLOYED)
    assert not missing, (
        f"the code reads these settings but infra/{tool} does not set them; add them to both templates "
        f"(or to NOT_DEPLOYED in {__name__} with the reason):\n"
        + _fmt(missing, code_settings.names)
    )


@pytest.mark.parametrize("tool", ["bicep", "terraform"])
def test_template_sets_nothing_the_code_does_not_read(tool, templates, code_settings):
    deployed = set(templates[tool])
    unknown = deployed - set(code_settings.names) - set(PLATFORM) - set(PENDING)
    assert not unknown, f"infra/{tool} sets settings nothing reads:\n" + _fmt(unknown, {})
    not_deployed = deployed & set(NOT_DEPLOYED)
    assert not not_deployed, f"infra/{tool} sets settings listed as not deployed:\n" + _fmt(not_deployed, NOT_DEPLOYED)
    forbidden = deployed & set(FORBIDDEN)
    assert not forbidden, f"infra/{tool} sets settings it must not:\n" + _fmt(forbidden, FORBIDDEN)


def test_bicep_and_terraform_set_the_same_settings(templates):
    bicep, terraform = set(templates["bicep"]), set(templates["terraform"])
    assert bicep == terraform, (
        "only in Bicep:\n" + _fmt(bicep - terraform, {}) + "\nonly in Terraform:\n" + _fmt(terraform - bicep, {})
    )


@pytest.mark.parametrize("tool", ["bicep", "terraform"])
def test_secrets_come_from_key_vault_references(tool, templates, code_settings):
    for name in code_settings.secrets & set(templates[tool]):
        value = templates[tool][name]
        assert isinstance(value, str) and value.startswith("@Microsoft.KeyVault(SecretUri="), (
            f"{name} is a secret: infra/{tool} must set it to a Key Vault reference, not {value!r}"
        )


@pytest.mark.parametrize("tool", ["bicep", "terraform"])
def test_host_storage_is_identity_based(tool, templates):
    settings = templates[tool]
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage__clientId" in settings
    assert not any("AccountKey" in str(v) or "SharedAccessSignature" in str(v) for v in settings.values())


def test_exclusion_lists_are_current(code_settings):
    stale = set(NOT_DEPLOYED) - set(code_settings.names)
    assert not stale, "NOT_DEPLOYED names settings the code no longer reads:\n" + _fmt(stale, NOT_DEPLOYED)
    assert not set(PLATFORM) & set(NOT_DEPLOYED)


def test_pending_settings_are_still_pending(code_settings):
    now_read = set(PENDING) & set(code_settings.names)
    assert not now_read, (
        "the code reads these now: remove them from PENDING (the other tests then check them):\n"
        + _fmt(now_read, code_settings.names)
    )
    if PENDING:
        warnings.warn(
            "infra templates set settings no code reads yet: " + ", ".join(sorted(PENDING)), stacklevel=1
        )


def test_local_settings_example_lists_the_settings(code_settings):
    """Read only: names the code reads that ``local.settings.json.example`` lacks are reported
    as a warning (the file belongs to the app's maintainers), never edited here."""
    example = json.loads((ROOT / "local.settings.json.example").read_text(encoding="utf-8"))
    values = set(example.get("Values") or {})
    wanted = {n for n in code_settings.names if n.startswith("TAP365_")} - {
        n for n in NOT_DEPLOYED if n.startswith(("TAP365_STORAGE_", "TAP365_GRAPH_CERTIFICATE_"))
    }
    missing = sorted(wanted - values)
    unknown = sorted(
        n for n in values - set(code_settings.names) - set(PLATFORM)
        if n not in ("FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage")
    )
    if missing or unknown:
        message = (
            f"local.settings.json.example lacks {len(missing)} setting(s) the code reads: {', '.join(missing)}"
            + (f"; it sets {', '.join(unknown)} which nothing reads" if unknown else "")
        )
        print(message)
        warnings.warn(message, stacklevel=1)
