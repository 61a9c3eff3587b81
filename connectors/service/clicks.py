"""The click redirector route: verify the signed link, then decide (see ``connectors.click_service``)."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.service.intake import HttpResult
from connectors.service.runtime import Runtime
from tap_core.urls.links import LinkError


async def handle_click(runtime: Runtime, method: str, url: str, headers: Mapping[str, str]) -> HttpResult:
    """Verify and redirect. A link that does not verify never redirects (no open redirect)."""
    max_age = runtime.settings.link_max_age_days * 86400 or None
    try:
        verified = runtime.codec.verify(url, max_age_seconds=max_age)
    except LinkError:
        return HttpResult(
            400,
            "<!doctype html><title>Invalid link</title><h1>This link is not valid</h1>",
            "text/html; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )
    return HttpResult(
        302,
        "",
        "text/plain",
        headers={"Location": verified.url, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
