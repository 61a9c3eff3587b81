"""Entra ID endpoints MSAL uses: OIDC discovery, JWKS, the v2.0 token endpoint, admin consent."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from . import ids
from .directory import Grant, Tenant
from .errors import OAuthError
from .tokens import ASSERTION_TYPE, verify_client_assertion

if TYPE_CHECKING:
    from .state import SimState

GRAPH_RESOURCES = {"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"}
RESERVED_SCOPES = {"openid", "profile", "offline_access", "email"}


def _state(request: Request) -> SimState:
    return request.app.state.sim  # type: ignore[no-any-return]


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _unknown_tenant(ref: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_request",
        90002,
        f"Tenant '{ref}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud. Check with your subscription administrator, this may "
        "happen if there are no active subscriptions for the tenant.",
    )


def _error_response(exc: OAuthError, correlation: str) -> JSONResponse:
    trace = ids.guid()
    body = exc.body(trace, correlation)
    return JSONResponse(body, status_code=exc.status, headers=_headers(trace, correlation))


def _missing(parameter: str, error: str = "invalid_request", status: int = 400) -> OAuthError:
    return OAuthError(
        status, error, 900144, f"The request body must contain the following parameter: '{parameter}'."
    )


def _headers(trace: str, correlation: str) -> dict[str, str]:
    return {
        "Cache-Control": "no-store, no-cache",
        "Pragma": "no-cache",
        "x-ms-request-id": trace,
        "client-request-id": correlation,
        "x-ms-ests-server": "m365sim",
    }


def openid_configuration(base: str, tenant: Tenant, v2: bool = True) -> dict[str, Any]:
    tid = tenant.id
    suffix = "/v2.0" if v2 else ""
    oauth = f"{base}/{tid}/oauth2{suffix}"
    return {
        "token_endpoint": f"{oauth}/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base}/{tid}/discovery{suffix}/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{tid}/v2.0" if v2 else f"https://sts.windows.net/{tid}/",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{oauth}/authorize",
        "device_authorization_endpoint": f"{oauth}/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{oauth}/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "tid", "ver", "oid"],
        "kerberos_endpoint": f"{base}/{tid}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


async def discovery(request: Request) -> Response:
    state = _state(request)
    ref = request.path_params["tenant"]
    tenant = state.directory.find_tenant(ref)
    correlation = request.headers.get("client-request-id") or ids.guid()
    if tenant is None:
        exc = _unknown_tenant(ref)
        body = exc.body(ids.guid(), correlation)
        body["error"] = "invalid_tenant"
        return JSONResponse(body, status_code=400)
    v2 = "/v2.0/" in request.url.path
    return JSONResponse(openid_configuration(_base(request), tenant, v2))


async def jwks(request: Request) -> Response:
    state = _state(request)
    ref = request.path_params["tenant"]
    tenant = state.directory.find_tenant(ref)
    issuer = f"{_base(request)}/{tenant.id if tenant else '{tenantid}'}/v2.0"
    return JSONResponse(state.tokens.jwks(issuer))


def _assertion_audiences(base: str, ref: str, tenant: Tenant) -> set[str]:
    audiences = set()
    for tenant_ref in {ref, tenant.id, tenant.domain}:
        root = f"{base}/{tenant_ref}".lower()
        audiences.update({f"{root}/oauth2/v2.0/token", f"{root}/oauth2/token", f"{root}/v2.0", root})
    return audiences


async def token(request: Request) -> Response:
    state = _state(request)
    ref = request.path_params["tenant"]
    correlation = request.headers.get("client-request-id") or ids.guid()
    state.stats.token_requests[ref] += 1
    # Read the form before any early answer: an unread body leaves the connection unusable.
    body = (await request.body()).decode("utf-8", "replace")
    v2 = "/v2.0/" in request.url.path
    route_key = "POST /{tenant}/oauth2/v2.0/token" if v2 else "POST /{tenant}/oauth2/token"
    state.stats.by_route[route_key] += 1
    faults = state.faults
    if faults.applies(route_key, graph=False) and faults.roll(faults.error_rate):
        state.stats.faults[route_key] += 1
        exc = OAuthError(faults.error_status, "temporarily_unavailable", 50196, "Injected fault.")
        return _error_response(exc, correlation)
    try:
        # Parsed here rather than with request.form(): that needs python-multipart.
        fields = dict(parse_qsl(body, keep_blank_values=True))
        issued = _issue(state, request, ref, fields, v2)
    except OAuthError as exc:
        return _error_response(exc, correlation)
    return JSONResponse(issued, headers=_headers(ids.guid(), correlation))


def _issue(state: SimState, request: Request, ref: str, form: dict[str, str], v2: bool) -> dict[str, Any]:
    tenant = state.directory.find_tenant(ref)
    if tenant is None:
        raise _unknown_tenant(ref)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise _missing("grant_type")
    if grant_type != "client_credentials":
        raise OAuthError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )
    client_id, basic_secret = _basic_auth(request)
    client_id = (form.get("client_id") or client_id or "").strip().lower()
    if not client_id:
        raise _missing("client_id")
    app = state.directory.find_app(client_id)
    grant = state.directory.grant(tenant.id, client_id)
    if app is None or grant is None:
        raise OAuthError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant.display_name}'. This can happen if the application has not been installed "
            "by the administrator of the tenant or consented to by any user in the tenant. You may "
            "have sent your authentication request to the wrong tenant.",
        )
    secret = form.get("client_secret") or basic_secret
    assertion = form.get("client_assertion")
    if secret:
        if secret not in app.secrets:
            raise OAuthError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        appidacr = "1"
    elif assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _missing("client_assertion_type")
        audiences = _assertion_audiences(_base(request), ref, tenant)
        verify_client_assertion(assertion, app, client_id, audiences, state.clock)
        appidacr = "2"
    else:
        raise OAuthError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    _check_resource(form, tenant, v2)
    lifetime = state.config.token_lifetime_seconds
    access_token = state.tokens.issue(tenant, app, set(grant.permissions), appidacr, lifetime)
    result: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }
    if not v2:
        now = int(state.clock.time())
        result.update(
            {
                "expires_on": str(now + lifetime),
                "not_before": str(now),
                "resource": "https://graph.microsoft.com",
            }
        )
    return result


def _check_resource(form: dict[str, str], tenant: Tenant, v2: bool) -> None:
    if not v2:
        resource = (form.get("resource") or "").rstrip("/").lower()
        if resource not in GRAPH_RESOURCES:
            raise _unknown_resource(resource, tenant)
        return
    scope = form.get("scope")
    if not scope:
        raise _missing("scope")
    resource_scopes = [s for s in scope.split() if s.lower() not in RESERVED_SCOPES]
    if len(resource_scopes) != 1 or not resource_scopes[0].endswith("/.default"):
        raise OAuthError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have "
            "a scope value with /.default suffixed to the resource identifier (application ID URI).",
        )
    resource = resource_scopes[0][: -len("/.default")].rstrip("/").lower()
    if resource not in GRAPH_RESOURCES:
        raise _unknown_resource(resource, tenant)


def _unknown_resource(resource: str, tenant: Tenant) -> OAuthError:
    return OAuthError(
        400,
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named "
        f"{tenant.display_name}. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant. You might have "
        "sent your authentication request to the wrong tenant.",
    )


def _basic_auth(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, _, password = decoded.partition(":")
    return user or None, password or None


async def admin_consent(request: Request) -> Response:
    """Admin consent: approve (configurable) and redirect back like Entra does."""
    state = _state(request)
    params = request.query_params
    ref = request.path_params["tenant"]
    tenant = state.directory.find_tenant(ref)
    if tenant is None and ref.lower() in ("common", "organizations"):
        hint = params.get("domain_hint") or (params.get("login_hint") or "").rpartition("@")[2]
        tenant = state.directory.find_tenant(hint) if hint else None
    client_id = (params.get("client_id") or "").lower()
    redirect_uri = params.get("redirect_uri")
    app = state.directory.find_app(client_id)
    if tenant is None or app is None or not redirect_uri:
        return PlainTextResponse(
            "AADSTS700016: Application or tenant not found, or redirect_uri missing.", status_code=400
        )
    query: dict[str, str] = {}
    if state.config.admin_consent_approves:
        existing = state.directory.grant(tenant.id, client_id)
        permissions = set(app.required_permissions) | (existing.permissions if existing else set())
        state.directory.grants[(tenant.id, client_id)] = Grant(
            permissions, existing.mailboxes if existing else None
        )
        query = {"admin_consent": "True", "tenant": tenant.id}
        if "/v2.0/" in request.url.path:
            query["scope"] = "https://graph.microsoft.com/.default"
    else:
        query = {
            "error": "access_denied",
            "error_subcode": "cancel",
            "error_description": "AADSTS65004: User declined to consent to access the app.",
        }
    if params.get("state") is not None:
        query["state"] = params["state"]
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + separator + urlencode(query), status_code=302)
