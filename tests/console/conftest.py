"""Console test fixtures: a runtime over Azurite, and a client that sends requests to the console's
handler the way App Service authentication would (signed-in principal headers, platform on)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from connectors.console.app import ConsoleApp, ConsoleRequest, ConsoleResponse
from connectors.console.auth import ADMIN, ANALYST
from connectors.service.runtime import Runtime
from connectors.settings import Settings
from connectors.storage.azure import AzureStores

TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"
ADMIN_UPN = "ada@contoso.example"
ANALYST_UPN = "alan@contoso.example"
PLATFORM = {"WEBSITE_AUTH_ENABLED": "True"}


def principal_header(upn: str, roles: tuple[str, ...], tenant: str | None = TENANT, name: str = "") -> str:
    claims = [{"typ": "name", "val": name or upn.split("@")[0].title()},
              {"typ": "preferred_username", "val": upn}]
    if tenant is not None:
        claims.append({"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": tenant})
    claims += [{"typ": "roles", "val": r} for r in roles]
    data = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return base64.b64encode(json.dumps(data).encode()).decode()


def signed_in(upn: str = ADMIN_UPN, role: str = ADMIN, tenant: str = TENANT) -> dict[str, str]:
    return {"x-ms-client-principal": principal_header(upn, (role,) if role else (), tenant),
            "x-ms-client-principal-name": upn, "x-ms-client-principal-idp": "aad"}


@dataclass
class Client:
    """Requests straight to ConsoleApp.handle (no network), the platform's headers included."""

    app: ConsoleApp
    headers: dict[str, str] = field(default_factory=lambda: signed_in())

    def request(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
                replace_headers: bool = False) -> ConsoleResponse:
        sent = dict(headers or {}) if replace_headers else {**self.headers, **(headers or {})}
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            sent.setdefault("content-type", "application/x-www-form-urlencoded")
        sent.setdefault("host", "tap365.example")
        request = ConsoleRequest(method=method, path=path, query=dict(query or {}),
                                 headers={k.lower(): v for k, v in sent.items()}, body=body,
                                 url=f"https://tap365.example/api/console{path}")
        return asyncio.run(self.app.handle(request))

    def get(self, path: str, **kwargs: Any) -> ConsoleResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: Mapping[str, str], **kwargs: Any) -> ConsoleResponse:
        return self.request("POST", path, form=form, **kwargs)


@pytest.fixture
def runtime(stores: AzureStores, tmp_path: Path) -> Runtime:
    settings = Settings(state_dir=tmp_path / "state", home_tenant_id=TENANT)
    return Runtime.create(settings, storage=stores.config)


@pytest.fixture
def client(runtime: Runtime) -> Client:
    return Client(ConsoleApp(runtime, environ=PLATFORM))


@pytest.fixture
def analyst(runtime: Runtime) -> Client:
    return Client(ConsoleApp(runtime, environ=PLATFORM), signed_in(ANALYST_UPN, ANALYST))


def text(response: ConsoleResponse) -> str:
    return response.body.decode("utf-8")
