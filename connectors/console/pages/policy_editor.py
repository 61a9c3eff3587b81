"""The policy editor: the tenant's policy as YAML in a textarea; Review checks it (problems shown
at their field and line) and shows the diff against the stored version; Save applies it through
the admin API's ``put_policy`` under the ETag the review was made against, so a concurrent change
is refused with the reason (and the diff against the new version is shown to review again)."""

from __future__ import annotations

import hashlib
import json

from connectors.console.app import ConsoleResponse, Context, page, register_notice
from connectors.service.admin import AdminApi
from connectors.service.policy_review import as_yaml, review
from tap_core.policy import MAX_POLICY_BYTES

SAVED = register_notice("policy_saved", "The policy was saved; new mail is judged by it from now on.")
UNCHANGED = register_notice("policy_unchanged", "Nothing to save: the policy is as stored.")


def _stored(ctx: Context) -> tuple[dict[str, object] | None, str, int, str]:
    doc = ctx.stores.policies.get_policy(ctx.tenant_id)  # the person's tenant only
    if doc is None:
        return None, "", 0, ""
    return dict(doc.document), doc.etag, doc.version, f"{doc.updated_by}, {doc.updated_at:%Y-%m-%dT%H:%M:%SZ}"


@page("/policy")
def policy_page(ctx: Context) -> ConsoleResponse:
    document, etag, version, updated = _stored(ctx)
    return ctx.render("policy.html", title="Policy", text=as_yaml(document), etag=etag, version=version,
                      updated=updated, problems=[], conflict="", max_bytes=MAX_POLICY_BYTES)


def _text(ctx: Context) -> str:
    # Browsers send CRLF line ends from a textarea; YAML and the line numbers want LF.
    return ctx.request.form.get("policy", "").replace("\r\n", "\n")


@page("/policy/review", methods=("POST",), nav="/policy")
def policy_review(ctx: Context) -> ConsoleResponse:
    text = _text(ctx)
    document, etag, version, updated = _stored(ctx)
    sent_etag = ctx.request.form.get("etag", "")
    conflict = ""
    if sent_etag != etag:
        conflict = ("The stored policy changed since you opened the editor (now version "
                    f"{version}, by {updated or 'nobody'}): the diff below is against that version.")
    return _review_page(ctx, text, document, etag, version, updated, conflict)


def _review_page(ctx: Context, text: str, document: dict[str, object] | None, etag: str, version: int,
                 updated: str, conflict: str, status: int = 200) -> ConsoleResponse:
    checked = review(text, document)
    if checked.problems:
        return ctx.render("policy.html", title="Policy", status=422 if status == 200 else status, text=text,
                          etag=etag, version=version, updated=updated, problems=checked.problems,
                          conflict=conflict, max_bytes=MAX_POLICY_BYTES)
    return ctx.render("policy_review.html", title="Review the policy change", status=status, text=text,
                      etag=etag, version=version, updated=updated, review=checked, conflict=conflict,
                      reviewed=_digest(text))


def _digest(text: str) -> str:
    """Names the text a diff was shown for: Save applies only that text (else it is reviewed again)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@page("/policy/save", methods=("POST",), nav="/policy")
def policy_save(ctx: Context) -> ConsoleResponse:
    text = _text(ctx)
    sent_etag = ctx.request.form.get("etag", "")
    document, etag, version, updated = _stored(ctx)
    if ctx.request.form.get("reviewed", "") != _digest(text):
        # Edited after the diff was shown (or never reviewed): show the diff of this text first.
        return _review_page(ctx, text, document, etag, version, updated, "")
    if not review(text, document).changed and sent_etag == etag:
        return ctx.redirect("/policy", notice=UNCHANGED)
    # The admin API's rule: If-Match the ETag the review was made against; none only creates.
    result = AdminApi(ctx.runtime).put_policy(ctx.tenant_id, text.encode("utf-8"), sent_etag or None,
                                              ctx.principal.upn)
    if result.status == 200:
        return ctx.redirect("/policy", notice=SAVED)
    if result.status == 412:
        document, etag, version, updated = _stored(ctx)
        conflict = (f"Not saved: someone else saved the policy meanwhile (now version {version}, by "
                    f"{updated}). Review your edit against that version and save again.")
        return _review_page(ctx, text, document, etag, version, updated, conflict, status=409)
    error = str(json.loads(result.body).get("error", "")) if result.body else ""
    return _review_page(ctx, text, document, etag, version, updated, f"Not saved: {error}",
                        status=result.status)
