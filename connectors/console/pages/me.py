"""Who am I: the signed-in person, their tenant and console role, and what the role allows.
Open to everyone signed in from a served tenant, so a person without a role learns why the
console refuses them and whom to ask."""

from __future__ import annotations

from connectors.console.app import ConsoleResponse, Context, page
from connectors.console.auth import ADMIN, ANALYST

ALLOWS = {
    ADMIN: "Everything: review, release and delete held mail, approve release requests, edit the policy.",
    ANALYST: "Read-only: every page, no action.",
    "": "Only the pages mail links you to (such as asking for a held message back). An administrator of "
        "your tenant can assign TAP365.Admin or TAP365.Analyst in Entra ID (Enterprise applications).",
}


@page("/me", people=True, nav="")
def me(ctx: Context) -> ConsoleResponse:
    return ctx.render("me.html", title="Your sign-in", allows=ALLOWS[ctx.principal.role])
