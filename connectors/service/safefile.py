"""Safe File applied to a mailbox: each file attachment replaced by a PDF copy made from it.

Planning runs before the decision is recorded: every non-inline file attachment is converted
(``tap_core.attachments.safefile``; LibreOffice for Office documents where it is installed, a
text rendering otherwise), then the original and the copy go to the artefact store: the original
for release, the copy so a retry posts the very same bytes. When one attachment cannot be made
safe (unsupported type, encrypted, not fetched whole, or a copy over the 150 MB Graph attaches)
the whole message is held with that reason: delivering the original would defeat the
policy, and dropping the file would lose mail. The admin can release it as it is.

Applying is the journal step ``safe_file``: per attachment, add the copy first and then delete
the original, so a failure in between leaves the message with both files, never with none. Each
effect is recorded right after it happened; a retry adopts a copy it finds on the message (same
name and SHA-256) instead of adding a second one, and an original that is already gone needs no
delete.

Release (admin API) reverses it from the journal record: the original is added back from the
artefact store, then the copy is deleted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.graph.messages import FetchedMessage, fetch_message
from connectors.graph.remediation import MAX_UPLOAD_SESSION_BYTES, Remediator
from connectors.storage.interfaces import ArtefactStore, Claim, IdempotencyJournal
from tap_core.attachments.safefile import OfficeConverter, SafeFileError, safe_file

log = logging.getLogger("tap365.safefile")
PDF = "application/pdf"


@dataclass
class SafeFilePlan:
    #: One journal-ready dict per attachment to replace (see :func:`plan_safe_file`).
    items: list[dict[str, Any]] = field(default_factory=list)
    #: Why the message must be held instead (empty: the plan can be applied).
    hold_reason: str = ""


def copy_name(original: str) -> str:
    """``minutes.docx`` -> ``minutes.docx.pdf``: the user sees which file the copy stands for,
    and the copy never has the name of the original it replaces (``invoice.pdf.pdf``)."""
    return f"{original or 'attachment'}.pdf"


def _office() -> OfficeConverter | None:
    from connectors.sandbox.libreoffice import LibreOfficeConverter, OfficeConversionError

    try:
        return LibreOfficeConverter()
    except OfficeConversionError:
        return None  # Office documents get the text rendering


def _message_key(message_id: str) -> str:
    # Artefact names allow letters, digits, '.', '_', '-' and '/': Graph ids have '+' and '='.
    return hashlib.sha256(message_id.encode()).hexdigest()[:32]


def _convert(name: str, data: bytes) -> tuple[bytes, str]:
    result = safe_file(name, data, office=_office())
    return result.pdf, result.method


async def plan_safe_file(
    artefacts: ArtefactStore, tenant_id: str, message_id: str, fetched: FetchedMessage
) -> SafeFilePlan:
    """Convert the attachments and keep originals and copies; or say why the message is held."""
    problems: list[str] = []
    converted: list[tuple[dict[str, Any], bytes, bytes]] = []
    for att in fetched.raw.get("attachments") or []:
        if not isinstance(att, dict):
            continue
        kind = str(att.get("@odata.type") or "")
        name = str(att.get("name") or "attachment")
        if att.get("isInline"):
            continue  # pictures in the body: replacing them by PDFs would break the body
        if kind.endswith("itemAttachment"):
            inner = att.get("item")
            item: dict[str, Any] = inner if isinstance(inner, dict) else {}
            if item.get("hasAttachments") or item.get("attachments"):
                problems.append(f"{name}: files inside an attached message cannot be replaced")
            continue
        if not kind.endswith("fileAttachment"):
            continue  # reference attachments are links, URL Protect's part
        if att.get("contentBytes") is None and att.get("size"):
            problems.append(f"{name}: not fetched whole (over TAP365_GRAPH_MAX_ATTACHMENT_BYTES)")
            continue
        data = base64.b64decode(str(att.get("contentBytes") or ""))
        try:
            # Rasterising and LibreOffice take seconds: off the event loop.
            pdf, method = await asyncio.to_thread(_convert, name, data)
        except SafeFileError as exc:
            problems.append(f"{name}: no Safe File copy ({exc})")
            continue
        if len(pdf) > MAX_UPLOAD_SESSION_BYTES:
            problems.append(
                f"{name}: the Safe File copy is {len(pdf)} bytes, over the {MAX_UPLOAD_SESSION_BYTES} "
                "bytes Graph attaches"
            )
            continue
        sha = hashlib.sha256(data).hexdigest()
        pdf_sha = hashlib.sha256(pdf).hexdigest()
        key = _message_key(message_id)
        item = {
            "id": str(att.get("id") or ""),
            "name": name,
            "content_type": str(att.get("contentType") or "application/octet-stream"),
            "sha256": sha,
            "original_artefact": f"safefile/{key}/{sha}",
            "pdf_name": copy_name(name),
            "pdf_sha256": pdf_sha,
            "pdf_artefact": f"safefile/{key}/{pdf_sha}.pdf",
            "method": method,
            "added": "",
            "deleted": False,
        }
        converted.append((item, data, pdf))
    if problems:
        return SafeFilePlan(hold_reason="Safe File not applied: " + "; ".join(problems))
    for item, data, pdf in converted:
        meta = {"file_name": item["name"], "message_id": message_id}
        artefacts.put(
            tenant_id, item["original_artefact"], data, content_type=item["content_type"], metadata=meta
        )
        artefacts.put(tenant_id, item["pdf_artefact"], pdf, content_type=PDF, metadata=meta)
    return SafeFilePlan(items=[item for item, _, _ in converted])


def _on_message(raw: Mapping[str, Any], name: str, sha256: str, size: int) -> str:
    """The id of an attachment named ``name`` with these bytes, or ""."""
    for att in raw.get("attachments") or []:
        if not isinstance(att, dict) or att.get("name") != name:
            continue
        content = att.get("contentBytes")
        if content is not None:
            if hashlib.sha256(base64.b64decode(str(content))).hexdigest() == sha256:
                return str(att.get("id") or "")
        elif att.get("size") == size:  # not fetched (large): the size has to do
            return str(att.get("id") or "")
    return ""


async def apply_safe_file(
    rem: Remediator,
    journal: IdempotencyJournal,
    artefacts: ArtefactStore,
    claim: Claim,
    mailbox: str,
    message_id: str,
    fetched: FetchedMessage,
    items: Sequence[Mapping[str, Any]],
) -> tuple[Claim, int]:
    """Add each copy, then delete its original; returns the claim and the Graph requests made."""
    tenant_id = claim.tenant_id
    state = [dict(i) for i in (claim.data.get("safe_file") or {}).get("items") or items]
    present = {str(a.get("id")) for a in fetched.raw.get("attachments") or [] if isinstance(a, dict)}
    requests = 0
    for item in state:
        if not item.get("added"):
            pdf = artefacts.get(tenant_id, str(item["pdf_artefact"]))
            if pdf is None:
                raise RuntimeError(
                    f"the Safe File copy of {item['name']!r} is missing from the artefact store"
                )
            found = _on_message(fetched.raw, str(item["pdf_name"]), str(item["pdf_sha256"]), len(pdf))
            if found:  # added by an attempt that failed before recording it
                item["added"] = found
            else:
                item["added"] = await rem.add_file_attachment(
                    mailbox, message_id, str(item["pdf_name"]), pdf, PDF
                )
                requests += 1
            claim = journal.record_step(claim, "safe_file", {"items": state})
        if not item.get("deleted"):
            if str(item["id"]) in present:
                await rem.delete_attachment(mailbox, message_id, str(item["id"]))
                requests += 1
            item["deleted"] = True
            claim = journal.record_step(claim, "safe_file", {"items": state})
    return claim, requests


async def restore_originals(
    rem: Remediator,
    artefacts: ArtefactStore,
    tenant_id: str,
    mailbox: str,
    message_id: str,
    items: Sequence[Mapping[str, Any]],
) -> int:
    """Put the originals back and remove the copies (release); safe to repeat. Returns the Graph
    requests made (an upload session's PUTs included). Raises ``AttachmentTooLarge`` for an original
    over 150 MB (nothing changed for it)."""
    fetched = await fetch_message(rem.graph, mailbox, message_id)
    requests = fetched.requests
    present = {str(a.get("id")) for a in fetched.raw.get("attachments") or [] if isinstance(a, dict)}
    for item in items:
        original = artefacts.get(tenant_id, str(item["original_artefact"]))
        if original is None:
            raise RuntimeError(f"the original of {item['name']!r} is missing from the artefact store")
        if not _on_message(fetched.raw, str(item["name"]), str(item["sha256"]), len(original)):
            await rem.add_file_attachment(
                mailbox, message_id, str(item["name"]), original, str(item["content_type"])
            )
            requests += 1
        if item.get("added") and str(item["added"]) in present:
            await rem.delete_attachment(mailbox, message_id, str(item["added"]))
            requests += 1
    return requests
