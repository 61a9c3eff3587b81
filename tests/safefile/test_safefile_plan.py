"""Safe File planning for a mailbox message: what is converted, and when the message is held."""

from __future__ import annotations

import asyncio
import base64
import io
import os
from collections.abc import Mapping
from typing import Any

from PIL import Image

from connectors.graph.messages import FetchedMessage
from connectors.graph.remediation import MAX_POST_ATTACHMENT_BYTES
from connectors.service.safefile import copy_name, plan_safe_file
from tap_core.model.message import Message


class DictArtefacts:
    """The ArtefactStore interface over a dict (the Azure one is tested against Azurite)."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str], bytes] = {}

    def put(
        self,
        tenant_id: str,
        name: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        self.blobs[(tenant_id, name)] = data
        return ""

    def get(self, tenant_id: str, name: str) -> bytes | None:
        return self.blobs.get((tenant_id, name))

    def delete(self, tenant_id: str, name: str) -> None:
        self.blobs.pop((tenant_id, name), None)


def _fetched(*attachments: dict[str, Any]) -> FetchedMessage:
    raw = {"id": "m1", "attachments": list(attachments)}
    return FetchedMessage(
        raw=raw, message=Message(source="test"), message_id="m1", folder_id="inbox", change_key="", requests=1
    )


def _file(name: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": f"id-{name}",
        "name": name,
        "size": len(data),
        "contentBytes": base64.b64encode(data).decode(),
        **extra,
    }


def test_text_file_is_planned_and_inline_pictures_are_left_alone() -> None:
    store = DictArtefacts()
    logo = _file("logo.png", b"\x89PNG\r\n\x1a\n", isInline=True, contentId="logo")
    plan = asyncio.run(plan_safe_file(store, "t", "m1", _fetched(_file("notes.txt", b"hello"), logo)))
    assert not plan.hold_reason
    assert [i["name"] for i in plan.items] == ["notes.txt"]
    item = plan.items[0]
    assert item["pdf_name"] == copy_name("notes.txt") == "notes.txt.pdf"
    assert store.get("t", item["original_artefact"]) == b"hello"
    assert (store.get("t", item["pdf_artefact"]) or b"").startswith(b"%PDF-")


def test_a_copy_over_3_mb_is_planned_for_an_upload_session() -> None:
    # Noise does not compress: a 2200x2200 picture makes a JPEG page over the 3 MB of one POST.
    side = 2200
    picture = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    store = DictArtefacts()
    plan = asyncio.run(plan_safe_file(store, "t", "m1", _fetched(_file("scan.png", buffer.getvalue()))))
    assert not plan.hold_reason
    (item,) = plan.items
    assert len(store.get("t", item["pdf_artefact"]) or b"") > MAX_POST_ATTACHMENT_BYTES


def test_unfetched_and_unconvertible_files_hold_the_message() -> None:
    big = {"@odata.type": "#microsoft.graph.fileAttachment", "id": "b", "name": "big.docx", "size": 99}
    exe = _file("tool.exe", b"MZ" + b"\0" * 200)
    plan = asyncio.run(plan_safe_file(DictArtefacts(), "t", "m1", _fetched(big, exe)))
    assert plan.items == []
    assert (
        "big.docx: not fetched whole" in plan.hold_reason
        and "tool.exe: no Safe File copy" in plan.hold_reason
    )
