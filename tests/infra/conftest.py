"""Shared fixtures of the deployment checks: the parsed templates (through infra/check.sh, whose
venvs under .venv-infra/ hold checkov and python-hcl2) and the settings the code reads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .code_settings import ROOT, CodeSettings, discover

INFRA = ROOT / "infra"
CHECK = INFRA / "check.sh"
BICEP_FILES = sorted((INFRA / "bicep").glob("*.bicep"))
TF_FILES = sorted((INFRA / "terraform").glob("*.tf"))
#: Creating the venvs (first run on a machine) downloads checkov: allow for a slow network.
SETUP_TIMEOUT = 1500


def run_check(*args: str, timeout: float = SETUP_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CHECK), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def infra_venvs() -> None:
    done = run_check("setup")
    assert done.returncode == 0, f"infra/check.sh setup failed:\n{done.stdout}\n{done.stderr}"


def _parse(kind: str, files: list[Path]) -> dict[str, Any]:
    done = run_check(f"parse-{kind}", *(str(f.relative_to(ROOT)) for f in files))
    try:
        out = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"infra/check.sh parse-{kind} printed no JSON:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    assert not out["errors"], f"{kind} files do not parse: {json.dumps(out['errors'], indent=1)}"
    assert done.returncode == 0, done.stderr
    return out["files"]


@pytest.fixture(scope="session")
def bicep(infra_venvs: None) -> dict[str, Any]:
    """``{relative path: pycep JSON}`` of every .bicep file."""
    return _parse("bicep", BICEP_FILES)


@pytest.fixture(scope="session")
def terraform(infra_venvs: None) -> dict[str, Any]:
    """``{relative path: python-hcl2 JSON}`` of every .tf file (quotes stripped)."""
    return _parse("tf", TF_FILES)


@pytest.fixture(scope="session")
def code_settings() -> CodeSettings:
    return discover()


# -- reading the parsed templates ------------------------------------------------------------

def bicep_resources(bicep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Symbolic name -> resource, over every Bicep file."""
    found: dict[str, dict[str, Any]] = {}
    for parsed in bicep.values():
        found.update(parsed.get("resources") or {})
    return found


def bicep_app_settings(bicep: dict[str, Any]) -> dict[str, Any]:
    """Every app setting the Bicep sets: ``sites/config`` named ``appsettings`` and any
    ``siteConfig.appSettings`` list on a site."""
    settings: dict[str, Any] = {}
    for res in bicep_resources(bicep).values():
        config = res.get("config") or {}
        if res.get("type") == "Microsoft.Web/sites/config" and config.get("name") == "appsettings":
            settings.update(config.get("properties") or {})
        if res.get("type") == "Microsoft.Web/sites":
            for item in ((config.get("properties") or {}).get("siteConfig") or {}).get("appSettings") or []:
                settings[item["name"]] = item.get("value")
    return settings


def tf_blocks(terraform: dict[str, Any], kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``(type, name) -> body`` of every ``resource``/``data`` block."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for parsed in terraform.values():
        for entry in parsed.get(kind) or []:
            for rtype, named in entry.items():
                for name, body in named.items():
                    found[(rtype, name)] = body
    return found


FUNCTION_APP_TYPES = ("azurerm_function_app_flex_consumption", "azurerm_linux_function_app")


def tf_app_settings(terraform: dict[str, Any]) -> dict[str, Any]:
    """Every app setting the Terraform sets, including those the provider derives from
    ``site_config`` (Application Insights)."""
    settings: dict[str, Any] = {}
    for (rtype, _), body in tf_blocks(terraform, "resource").items():
        if rtype not in FUNCTION_APP_TYPES:
            continue
        settings.update(body.get("app_settings") or {})
        for site_config in body.get("site_config") or []:
            if site_config.get("application_insights_connection_string"):
                settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] = site_config[
                    "application_insights_connection_string"
                ]
    return settings


def tf_named(terraform: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """``variable``/``output`` blocks by name."""
    found: dict[str, dict[str, Any]] = {}
    for parsed in terraform.values():
        for entry in parsed.get(kind) or []:
            found.update(entry)
    return found
