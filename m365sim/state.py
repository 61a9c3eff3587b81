"""All mutable simulator state, rebuilt from the seed on start and on ``POST /_sim/reset``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import certs, compose
from .clock import Clock
from .config import SimConfig
from .directory import Directory, build_directory, describe_seed
from .faults import Faults
from .mailbox import Mailbox
from .notifier import Notifier
from .stats import Stats
from .subscriptions import Subscription
from .throttle import Throttle
from .tokens import TokenService


@dataclass
class DeltaState:
    mailbox_id: str
    folder_id: str
    seq: int  # changes after this sequence number are "since"
    select: str | None
    change_type: str | None
    pending: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, immutable, rest)
    created_at: float = 0.0


class SimState:
    def __init__(self, seed: dict[str, Any], state_dir: Path, persist: bool = False) -> None:
        self.seed = seed
        self.persist = persist  # snapshot mailboxes to the state folder on shutdown
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.ca = certs.ensure_ca(state_dir)
        self.server_cert = certs.ensure_server_cert(state_dir, self.ca)
        self.clock = Clock()
        self.tokens = TokenService(certs.ensure_signing_key(state_dir), self.clock)
        self.config = SimConfig()
        self.stats = Stats()
        self.faults = Faults()
        self.throttle = Throttle(self.config, self.clock)
        self.notifier = Notifier(self)
        self.directory = Directory()
        self.mailboxes: dict[str, Mailbox] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.delta_tokens: dict[str, DeltaState] = {}
        self.outbox: list[dict[str, Any]] = []  # mail sent to recipients outside the sim
        self.upload_sessions: dict[str, Any] = {}  # large attachments being uploaded (uploads.py)
        self.reset()
        if persist:
            from . import persist as snapshots

            snapshots.load(self)

    @property
    def ca_path(self) -> Path:
        return self.ca.cert_path

    def reset(self) -> None:
        """Back to the seed: directory, empty mailboxes, no subscriptions, default switches."""
        self.clock.reset()
        self.config.update(SimConfig().as_dict())
        self.config.update(self.seed.get("config") or {})
        self.stats = Stats()
        self.faults = Faults()
        self.throttle.reset()
        self.directory = build_directory(self.seed, self.state_dir)
        self.subscriptions.clear()
        self.delta_tokens.clear()
        self.outbox.clear()
        self.upload_sessions.clear()
        self.mailboxes = {}
        for tenant in self.directory.tenants.values():
            for user in tenant.users.values():
                mailbox = Mailbox(user, self.clock)
                mailbox.listeners.append(self.notifier.on_change)
                self.mailboxes[user.id] = mailbox
        for item in self.seed.get("mail", []):
            self._seed_message(item)

    def _seed_message(self, item: dict[str, Any]) -> None:
        user = self.directory.find_user_anywhere(item["user"])
        if user is None:
            raise ValueError(f"seed mail for unknown user {item['user']}")
        mailbox = self.mailboxes[user.id]
        folder = mailbox.folder(item.get("folder", "inbox"))
        if folder is None:
            raise ValueError(f"seed mail folder {item.get('folder')} not found")
        raw = item["eml"].encode("utf-8") if isinstance(item["eml"], str) else item["eml"]
        message = compose.message_from_mime(mailbox, raw, self.clock.now())
        message.is_read = bool(item.get("isRead", False))
        mailbox.add(message, folder)

    def describe_seed(self) -> dict[str, Any]:
        return describe_seed(self.directory)
