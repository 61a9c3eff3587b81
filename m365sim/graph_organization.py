"""Graph ``/organization``: the tenant's verified domains (needs Organization.Read.All or a
directory-wide read role, as in Microsoft Graph; User.Read.All is not enough)."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .errors import GraphError
from .router import GraphResponse, Router

ORGANIZATION_READ = frozenset(
    {"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)


def _domains(domain: str) -> list[dict[str, Any]]:
    """The seeded domain (default) and the tenant's initial ``<name>.onmicrosoft.com``."""
    initial = domain if domain.endswith(".onmicrosoft.com") else f"{domain.split('.')[0]}.onmicrosoft.com"
    found = [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
              "isInitial": initial == domain, "name": domain, "type": "Managed"}]
    if initial != domain:
        found.append({"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": False,
                      "isInitial": True, "name": initial, "type": "Managed"})
    return found


async def list_organization(ctx: Ctx) -> GraphResponse:
    if not ctx.has_any(ORGANIZATION_READ):
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    tenant = ctx.tenant
    org = {"id": tenant.id, "displayName": tenant.display_name, "verifiedDomains": _domains(tenant.domain)}
    select = [s.strip() for s in (ctx.req.query.get("$select") or "").split(",") if s.strip()]
    if select:
        org = {k: v for k, v in org.items() if k in select or k == "id"}
    return GraphResponse(200, {"@odata.context": ctx.context_url("organization"), "value": [org]})


def register(router: Router) -> None:
    router.add("GET", "/organization", list_organization)
