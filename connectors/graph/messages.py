"""Fetch one message with as few Graph requests as possible (one when attachments are small).

One GET carries ``$select`` (headers need it) and ``$expand=attachments``: file attachments
arrive with ``contentBytes`` in the same response. Only attachments Graph sends without bytes
cost one ``/$value`` request each, and item attachments (attached messages) one GET with
``$expand=microsoft.graph.itemAttachment/item`` each.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from tap_core.model.message import Message
from tap_core.parsing.graph_message import GRAPH_MESSAGE_SELECT, message_from_graph

from .client import TenantGraph, seg

#: What we ask Graph for: the pipelines' fields plus what remediation needs.
MESSAGE_SELECT = ",".join(dict.fromkeys((*GRAPH_MESSAGE_SELECT, "changeKey", "parentFolderId")))


@dataclass
class FetchedMessage:
    raw: dict[str, Any]  # Graph's JSON, attachment bytes filled in
    message: Message
    message_id: str  # immutable id
    folder_id: str
    change_key: str
    requests: int  # Graph requests this fetch cost


def message_path(mailbox: str, message_id: str) -> str:
    return f"/users/{seg(mailbox)}/messages/{seg(message_id)}"


async def fetch_message(graph: TenantGraph, mailbox: str, message_id: str) -> FetchedMessage:
    """Fetch a message and its attachments and map it for the pipelines."""
    raw = await graph.get_json(
        message_path(mailbox, message_id), {"$select": MESSAGE_SELECT, "$expand": "attachments"}
    )
    requests = 1 + await complete_attachments(graph, mailbox, str(raw.get("id") or message_id), raw)
    message = message_from_graph(raw, f"graph:{mailbox}/{raw.get('id', message_id)}")
    return FetchedMessage(
        raw=raw,
        message=message,
        message_id=str(raw.get("id") or message_id),
        folder_id=str(raw.get("parentFolderId") or ""),
        change_key=str(raw.get("changeKey") or ""),
        requests=requests,
    )


async def complete_attachments(graph: TenantGraph, mailbox: str, message_id: str, raw: dict[str, Any]) -> int:
    """Fill in what ``$expand=attachments`` left out, in place; returns the requests made.

    Item attachments get their item (``$expand=microsoft.graph.itemAttachment/item``); file
    attachments without ``contentBytes`` get their bytes from ``/$value`` unless larger than
    ``max_attachment_bytes`` (then they stay truncated and the pipelines see that)."""
    base = message_path(mailbox, message_id)
    limit = graph.settings.max_attachment_bytes
    requests = 0
    attachments = raw.get("attachments") or []
    for index, att in enumerate(attachments):
        if not isinstance(att, dict) or not att.get("id"):
            continue
        kind = str(att.get("@odata.type") or "")
        att_path = f"{base}/attachments/{seg(str(att['id']))}"
        if kind.endswith("itemAttachment") and not isinstance(att.get("item"), dict):
            expanded = await graph.get_json(att_path, {"$expand": "microsoft.graph.itemAttachment/item"})
            requests += 1
            attachments[index] = {**att, **expanded}
        elif kind.endswith("fileAttachment") and att.get("contentBytes") is None:
            size = att.get("size")
            if isinstance(size, int) and (size > limit or size == 0):
                continue  # too large to hold, or empty: nothing to download
            response = await graph.request("GET", f"{att_path}/$value")
            requests += 1
            data = response.content[: limit + 1]
            if len(data) > limit:
                continue  # the declared size lied: keep it truncated rather than hold it all
            att["contentBytes"] = base64.b64encode(data).decode("ascii")
    return requests
