"""The two anonymous endpoints Graph calls, served by the real function_app.py on the local host
(Azurite-backed stores): hostile bodies get a clear 4xx, never a 500, and the reflected
handshake token cannot be sniffed into HTML."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.service.runtime import reset_runtime
from tests.localhost.running import running_host
from tests.storage.azurite import Azurite

ROOT = Path(__file__).resolve().parents[2]
ENDPOINTS = ("graph/notifications", "graph/lifecycle")


@pytest.fixture(scope="module")
def functions(azurite_instance: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    app_root = tmp_path_factory.mktemp("app")
    shutil.copy(ROOT / "function_app.py", app_root / "function_app.py")
    (app_root / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": "api"}}}))
    env = {
        "AzureWebJobsStorage": azurite_instance.connection_string,
        "TAP365_STORAGE_PREFIX": f"g{uuid.uuid4().hex[:8]}",
        "TAP365_STATE_DIR": str(app_root / "state"),
        # The runtime needs an app registration to start; these endpoints never call Graph.
        "TAP365_GRAPH_CLIENT_ID": str(uuid.uuid4()),
        "TAP365_GRAPH_CLIENT_SECRET": "unused",
    }
    reset_runtime()  # the runtime is process-wide: build it from this host's environment
    try:
        with running_host(app_root, env) as host, httpx.Client(
            base_url=host.base_url, trust_env=False, timeout=60
        ) as client:
            yield client
    finally:
        reset_runtime()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_handshake_token_is_plain_text_not_sniffed(functions: httpx.Client, path: str) -> None:
    token = "<html><script>alert(1)</script>"
    r = functions.post(f"/api/{path}", params={"validationToken": token})
    assert r.status_code == 200 and r.text == token
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_deep_json_is_a_400_not_a_500(functions: httpx.Client, path: str) -> None:
    deep = b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = functions.post(f"/api/{path}", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_over_the_notification_limit_is_a_413(functions: httpx.Client, path: str) -> None:
    one: dict[str, str] = {"subscriptionId": str(uuid.uuid4()), "clientState": "x", "tenantId": "t"}
    one |= {"lifecycleEvent": "missed"} if path.endswith("lifecycle") else {"resource": "Users/u/Messages/m"}
    r = functions.post(f"/api/{path}", json={"value": [one] * 1001})
    assert r.status_code == 413 and "at most 1000" in r.json()["error"]
    r = functions.post(f"/api/{path}", json={"value": [one]})  # unknown, alone: Graph is asked to retry
    assert r.status_code == 503
