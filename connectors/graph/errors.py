"""Connector errors that say what went wrong at Entra or Graph and what to do about it."""

from __future__ import annotations

import re
from typing import Any

_AADSTS = re.compile(r"AADSTS(\d+)")

# The AADSTS codes an operator meets first, with the fix.
_AADSTS_HINTS = {
    7000215: "the client secret is wrong: copy the secret *value* (not its id) again",
    7000222: "the client secret expired: create a new one",
    700016: "the app is unknown in this tenant: the tenant admin must grant consent first",
    700027: "the certificate is not registered on the app: upload it (thumbprint must match)",
    90002: "the tenant id does not exist: check it",
    65001: "admin consent is missing: the tenant admin must consent to the app",
    50034: "the account does not exist in the tenant",
}


class GraphAuthError(Exception):
    """Token acquisition failed; ``aadsts`` is Entra's numeric code when it sent one."""

    def __init__(self, tenant_id: str, error: str, description: str, aadsts: int | None = None) -> None:
        self.tenant_id = tenant_id
        self.error = error
        self.description = description
        self.aadsts = aadsts
        code = f"AADSTS{aadsts}" if aadsts is not None else error or "unknown_error"
        hint = _AADSTS_HINTS.get(aadsts or -1, "")
        first_line = description.splitlines()[0] if description else error
        text = f"token for tenant {tenant_id} refused ({code}): {first_line}"
        super().__init__(f"{text}; {hint}" if hint else text)

    @classmethod
    def from_msal(cls, tenant_id: str, result: dict[str, Any]) -> GraphAuthError:
        codes = result.get("error_codes") or []
        description = str(result.get("error_description") or "")
        aadsts: int | None = int(codes[0]) if codes and str(codes[0]).isdigit() else None
        if aadsts is None and (match := _AADSTS.search(description)):
            aadsts = int(match.group(1))
        return cls(tenant_id, str(result.get("error") or ""), description, aadsts)


class GraphApiError(Exception):
    """Graph answered with an error status; ``code`` is the OData error code."""

    def __init__(self, status: int, code: str, message: str, method: str = "", url: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.url = url
        super().__init__(f"Graph {method} {url} -> {status} {code}: {message}".replace("  ", " "))

    @classmethod
    def from_response(cls, status: int, body: Any, method: str = "", url: str = "") -> GraphApiError:
        code, message = "", ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = str(body["error"].get("code") or "")
            message = str(body["error"].get("message") or "")
        elif isinstance(body, str | bytes):
            message = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body)[:300]
        return cls(status, code or f"HTTP{status}", message, method, url)
