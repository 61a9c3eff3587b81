"""The click redirector route: hand the request to the ClickService (``connectors.click_service``)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from connectors.service.intake import HttpResult
from connectors.service.runtime import CLICK_INTEL_WAIT_SECONDS, Runtime

_PREFIX = "/api/r/"


async def handle_click(runtime: Runtime, method: str, url: str, headers: Mapping[str, str]) -> HttpResult:
    """Verify, decide and answer. A link that does not verify never redirects (no open redirect)."""
    from connectors.click_service import ClickRequest

    parts = urlsplit(url)
    path = parts.path
    token = unquote(path[path.find(_PREFIX) + len(_PREFIX) :]) if _PREFIX in path else ""
    lower = {k.lower(): v for k, v in headers.items()}
    client_ip = lower.get("x-forwarded-for", "").split(",")[0].strip()
    await runtime.intel_loaded(CLICK_INTEL_WAIT_SECONDS)  # a cold instance's first click
    response = await runtime.click_service.handle(
        ClickRequest(
            method=method, path_token=token, raw_query=parts.query, headers=dict(headers), client_ip=client_ip
        )
    )
    content_type = response.headers.pop("Content-Type", response.headers.pop("content-type", "text/html"))
    return HttpResult(
        response.status, response.body.decode("utf-8", "replace"), content_type, headers=response.headers
    )
