"""Helpers around msgraph-sdk calls: its errors become GraphApiError like raw requests."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from kiota_abstractions.api_error import APIError

from .errors import GraphApiError

T = TypeVar("T")


async def sdk_call(awaitable: Awaitable[T], what: str = "") -> T:
    """Await an SDK request; raise GraphApiError (status, OData code) when Graph refuses it."""
    try:
        return await awaitable
    except APIError as exc:
        status = int(getattr(exc, "response_status_code", 0) or 0)
        odata = getattr(exc, "error", None)
        code = str(getattr(odata, "code", "") or f"HTTP{status}")
        message = str(getattr(odata, "message", "") or exc.message or exc)
        raise GraphApiError(status, code, message, "SDK", what) from exc
