"""The console through the local Functions host running the real ``function_app.py`` over HTTP:
the ``console/{*path}`` route, the development identity from loopback, forged principal headers,
assets and CSRF, with the stores on Azurite."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.console.auth import ADMIN
from connectors.service.runtime import reset_runtime
from tests.localhost.running import running_host
from tests.storage.azurite import Azurite

from .conftest import TENANT, signed_in

ROOT = Path(__file__).resolve().parents[2]
DEV_UPN = "adele.vance@contoso.test"


@pytest.fixture(scope="module")
def console_host(azurite_instance: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    work = tmp_path_factory.mktemp("console-host")
    settings = work / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": {}}))
    env = {
        "AzureWebJobsStorage": azurite_instance.connection_string,
        "TAP365_STORAGE_CONNECTION_STRING": azurite_instance.connection_string,
        "TAP365_STORAGE_PREFIX": "consolehttp",
        "TAP365_STATE_DIR": str(work / "state"),
        "TAP365_HOME_TENANT_ID": TENANT,
        "TAP365_CONSOLE_DEV_IDENTITY": f"{DEV_UPN},{ADMIN},{TENANT}",
    }
    reset_runtime()
    try:
        with running_host(ROOT, env, settings_file=settings) as host, \
                httpx.Client(base_url=host.base_url, trust_env=False, timeout=60) as client:
            yield client
    finally:
        reset_runtime()


def test_console_served_with_the_development_identity(console_host: httpx.Client) -> None:
    for path in ("/api/console", "/api/console/", "/api/console/audit", "/api/console/clicks"):
        r = console_host.get(path)
        assert r.status_code == 200, path
        assert DEV_UPN in r.text and "TAP365.Admin" in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
        assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-type"].startswith("text/html")


def test_forged_principal_headers_refused_over_http(console_host: httpx.Client) -> None:
    r = console_host.get("/api/console/audit", headers=signed_in("eve@contoso.example", ADMIN, TENANT))
    assert r.status_code == 400 and "not set by the platform" in r.text and "eve@" not in r.text


def test_assets_over_http(console_host: httpx.Client) -> None:
    page = console_host.get("/api/console/").text
    css = re.search(r'href="(/api/console/static/console\.css\?v=[0-9a-f]+)"', page)
    js = re.search(r'src="(/api/console/static/console\.js\?v=[0-9a-f]+)"', page)
    assert css and js
    r = console_host.get(css.group(1))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert "immutable" in r.headers["cache-control"]
    assert console_host.get(js.group(1)).status_code == 200
    assert console_host.get("/api/console/static/..%2F..%2Ffunction_app.py").status_code == 404


def test_post_needs_the_token_over_http(console_host: httpx.Client) -> None:
    page = console_host.get("/api/console/audit").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token
    refused = console_host.post("/api/console/audit", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    passed = console_host.post("/api/console/audit", data={"csrf_token": token.group(1)},
                               headers={"origin": str(console_host.base_url).rstrip("/")})
    assert passed.status_code == 405  # past the checks; /audit takes no POST
    cross = console_host.post("/api/console/audit", data={"csrf_token": token.group(1)},
                              headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
