"""Optional persistence of mailboxes, subscriptions, grants and switches in the state folder
(``--persist``): saved on shutdown and on ``POST /_sim/save``, loaded on start."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clock import parse_datetime
from .directory import Grant
from .mailbox import Attachment, Folder, Message, Tombstone
from .subscriptions import Subscription

if TYPE_CHECKING:
    from .state import SimState

SNAPSHOT_FILE = "snapshot.json"
VERSION = 1


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"cannot persist {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$dt"}:
            return parse_datetime(value["$dt"])
        if set(value) == {"$b64"}:
            return base64.b64decode(value["$b64"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def save(state: SimState, path: Path | None = None) -> Path:
    target = path or state.state_dir / SNAPSHOT_FILE
    mailboxes = {}
    for user_id, mailbox in state.mailboxes.items():
        mailboxes[user_id] = {
            "seq": mailbox.seq,
            "order": mailbox._order,
            "folders": [asdict(f) for f in mailbox.folders.values()],
            "messages": [asdict(m) for m in mailbox.messages.values()],
            "tombstones": [asdict(t) for t in mailbox.tombstones],
        }
    document = {
        "version": VERSION,
        "config": state.config.as_dict(),
        "grants": [
            {
                "tenant": tenant_id,
                "app": app_id,
                "permissions": sorted(g.permissions),
                "mailboxes": sorted(g.mailboxes) if g.mailboxes is not None else None,
            }
            for (tenant_id, app_id), g in state.directory.grants.items()
        ],
        "mailboxes": mailboxes,
        "subscriptions": [asdict(s) for s in state.subscriptions.values()],
        "outbox": state.outbox,
    }
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, default=_encode), encoding="utf-8")
    temporary.replace(target)  # never leave a half-written snapshot
    return target


def load(state: SimState, path: Path | None = None) -> bool:
    source = path or state.state_dir / SNAPSHOT_FILE
    if not source.exists():
        return False
    document = _decode(json.loads(source.read_text(encoding="utf-8")))
    if document.get("version") != VERSION:
        return False
    state.config.update(document.get("config", {}))
    state.directory.grants = {
        (g["tenant"], g["app"]): Grant(
            set(g["permissions"]), set(g["mailboxes"]) if g["mailboxes"] is not None else None
        )
        for g in document.get("grants", [])
    }
    for user_id, data in document.get("mailboxes", {}).items():
        mailbox = state.mailboxes.get(user_id)
        if mailbox is None:  # the seed no longer has this user
            continue
        mailbox.seq, mailbox._order = data["seq"], data["order"]
        mailbox.folders = {f["id"]: Folder(**f) for f in data["folders"]}
        mailbox.well_known = {f.well_known: f.id for f in mailbox.folders.values() if f.well_known}
        mailbox.messages = {}
        mailbox.by_rest = {}
        for raw in data["messages"]:
            message = _message(raw)
            mailbox.messages[message.immutable_id] = message
            mailbox.by_rest[message.rest_id] = message.immutable_id
        mailbox.tombstones = [Tombstone(**t) for t in data["tombstones"]]
    state.subscriptions = {}
    for raw in document.get("subscriptions", []):
        raw["change_types"] = frozenset(raw["change_types"])
        state.subscriptions[raw["id"]] = Subscription(**raw)
    state.outbox = list(document.get("outbox", []))
    return True


def _message(raw: dict[str, Any]) -> Message:
    known = {f.name for f in fields(Message)}
    values = {k: v for k, v in raw.items() if k in known}
    values["attachments"] = [Attachment(**a) for a in values.get("attachments", [])]
    values["headers"] = [tuple(h) for h in values.get("headers", [])]
    return Message(**values)
