"""Remediation primitives on one tenant's mailboxes; each is idempotent and returns the new state.

Ids are immutable (``Prefer: IdType="ImmutableId"`` on every request), so a moved message keeps
its id and a retried action finds it again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kiota_http.middleware.middleware import REQUEST_OPTIONS_KEY
from msgraph.generated.models.attachment_item import AttachmentItem
from msgraph.generated.models.attachment_type import AttachmentType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.internet_message_header import InternetMessageHeader
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.mail_folder import MailFolder
from msgraph.generated.models.message import Message as SdkMessage
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.item.attachments.create_upload_session.create_upload_session_post_request_body import (  # noqa: E501
    CreateUploadSessionPostRequestBody,
)
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from .auth import token_roles
from .client import BatchRequest, TenantGraph, seg
from .errors import GraphApiError
from .messages import message_path
from .sdk import sdk_call

MAIL_ADVANCED = "Mail-Advanced.ReadWrite"
STATE_SELECT = "id,parentFolderId,changeKey,categories"
QUARANTINE = "Quarantine"
HOLD = "Hold"
#: Graph adds a file attachment in one POST only up to 3 MB; 3-150 MB go through an upload
#: session (``createUploadSession``, then PUTs of byte ranges to its pre-authenticated URL).
MAX_POST_ATTACHMENT_BYTES = 3 * 1024 * 1024
MAX_UPLOAD_SESSION_BYTES = 150 * 1024 * 1024
#: One PUT of an upload session: a multiple of 320 KiB, under Graph's 4 MB per range.
UPLOAD_CHUNK_BYTES = 10 * 320 * 1024
_LOCATION_ID = re.compile(r"Attachments\('([^']+)'\)", re.IGNORECASE)


class AttachmentTooLarge(ValueError):
    """The file is over what Graph attaches (150 MB); nothing was sent to Graph."""


@dataclass
class MessageState:
    message_id: str
    folder_id: str
    change_key: str = ""
    categories: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any], fallback_id: str = "") -> MessageState:
        return cls(
            message_id=str(data.get("id") or fallback_id),
            folder_id=str(data.get("parentFolderId") or ""),
            change_key=str(data.get("changeKey") or ""),
            categories=[str(c) for c in data.get("categories") or []],
        )


@dataclass
class PatchOutcome:
    applied: bool
    reason: str = ""  # "" when applied; "mail_advanced_missing" when Graph refused the edit
    detail: str = ""
    state: MessageState | None = None


@dataclass(frozen=True)
class FolderIds:
    quarantine: str
    hold: str


class FolderCache(Protocol):
    """Where folder ids are kept between runs (the service may persist them)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class MemoryFolderCache:
    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def set(self, key: str, value: str) -> None:
        self._data[key] = value


class Remediator:
    """Mailbox actions for one tenant."""

    def __init__(
        self,
        graph: TenantGraph,
        folder_cache: FolderCache | None = None,
        *,
        quarantine_name: str = QUARANTINE,
        hold_name: str = HOLD,
    ) -> None:
        self.graph = graph
        self.folder_cache: FolderCache = folder_cache or MemoryFolderCache()
        self.quarantine_name = quarantine_name
        self.hold_name = hold_name
        self._outgoing: dict[str, dict[str, str]] = {}

    async def outgoing_folders(self, mailbox: str) -> dict[str, str]:
        """Folder id -> well-known name of the folders that hold mail the person sent or is
        writing (Sent Items, Drafts, Outbox): one ``$batch`` per mailbox, then cached (the ids of
        well-known folders never change). A folder Graph cannot resolve is left out."""
        cached = self._outgoing.get(mailbox)
        if cached is not None:
            return cached
        names = ("sentitems", "drafts", "outbox")
        answers = await self.graph.batch(
            [BatchRequest("GET", f"/users/{seg(mailbox)}/mailFolders/{n}?$select=id", id=n) for n in names]
        )
        for answer in answers:
            if not answer.ok and answer.status != 404:
                raise answer.error(BatchRequest("GET", f"/users/{seg(mailbox)}/mailFolders/{answer.id}"))
        found = {
            str(a.body["id"]): a.id for a in answers if a.ok and isinstance(a.body, dict) and a.body.get("id")
        }
        self._outgoing[mailbox] = found
        return found

    async def state(self, mailbox: str, message_id: str) -> MessageState:
        data = await self.graph.get_json(message_path(mailbox, message_id), {"$select": STATE_SELECT})
        return MessageState.from_json(data, message_id)

    async def patch_body(self, mailbox: str, message_id: str, html: str) -> PatchOutcome:
        """Replace the HTML body (one PATCH). Without Mail-Advanced.ReadWrite Graph answers 403
        and leaves the message as it was: the outcome says so and the caller falls back."""
        try:
            response = await self.graph.request(
                "PATCH",
                message_path(mailbox, message_id),
                json={"body": {"contentType": "html", "content": html}},
            )
        except GraphApiError as exc:
            if exc.status != 403:
                raise
            # Tell a missing permission from other refusals (e.g. the mailbox is outside the
            # app's Exchange RBAC scope) by the roles in the token Graph refused.
            if MAIL_ADVANCED not in token_roles(await self.graph.access_token()):
                return PatchOutcome(
                    applied=False,
                    reason="mail_advanced_missing",
                    detail=(
                        f"Graph refused the body edit ({exc.code}: {exc.message}). Received mail can "
                        f"only be edited with the {MAIL_ADVANCED} application permission: grant it "
                        "and consent again; until then links are not rewritten."
                    ),
                )
            return PatchOutcome(
                applied=False,
                reason="access_denied",
                detail=(
                    f"Graph refused the body edit ({exc.code}: {exc.message}) although the app holds "
                    f"{MAIL_ADVANCED}: check the Exchange RBAC scope covers this mailbox."
                ),
            )
        return PatchOutcome(applied=True, state=MessageState.from_json(_json(response), message_id))

    async def add_categories(
        self,
        mailbox: str,
        message_id: str,
        categories: Sequence[str],
        existing: Sequence[str] | None = None,
    ) -> MessageState:
        """Add categories, keeping the message's own: one PATCH (plus one GET first when
        ``existing`` is not given). When nothing is missing there is no PATCH (a retry)."""
        current = await self.state(mailbox, message_id) if existing is None else None
        have = current.categories if current is not None else list(existing or [])
        merged = list(dict.fromkeys([*have, *categories]))
        if set(merged) == set(have):  # nothing to add: a retry, or already tagged
            return current if current is not None else await self.state(mailbox, message_id)
        response = await self.graph.request(
            "PATCH", message_path(mailbox, message_id), json={"categories": merged}
        )
        return MessageState.from_json(_json(response), message_id)

    async def ensure_folders(self, mailbox: str) -> FolderIds:
        """The mailbox's hidden Quarantine and Hold folders, created once and cached.

        Cold cache: one listing (hidden folders included) finds both; only missing ones are
        created. Warm cache: no request."""
        names = (self.quarantine_name, self.hold_name)
        keys = [f"{self.graph.tenant_id}/{mailbox.lower()}/{name}" for name in names]
        ids = [self.folder_cache.get(key) or "" for key in keys]
        if not all(ids):
            found = await self._find_folders(mailbox)
            for index, name in enumerate(names):
                if not ids[index]:
                    ids[index] = found.get(name.lower()) or await self._create_folder(mailbox, name)
                    self.folder_cache.set(keys[index], ids[index])
        return FolderIds(quarantine=ids[0], hold=ids[1])

    async def _create_folder(self, mailbox: str, name: str) -> str:
        builder = self.graph.sdk.users.by_user_id(mailbox).mail_folders
        try:
            # isHidden can only be set at creation.
            created = await sdk_call(
                builder.post(MailFolder(display_name=name, is_hidden=True)), f"create folder {name}"
            )
        except GraphApiError as exc:
            if exc.status != 409:  # ErrorFolderExists: another worker created it meanwhile
                raise
            found = (await self._find_folders(mailbox)).get(name.lower())
            if not found:
                raise
            return found
        if created is None or not created.id:
            raise GraphApiError(500, "NoFolderId", f"Graph created folder {name!r} without an id")
        return created.id

    async def _find_folders(self, mailbox: str) -> dict[str, str]:
        """Top-level folders by lower-case display name, hidden ones included."""
        params = {"includeHiddenFolders": "true", "$select": "id,displayName,isHidden", "$top": "100"}
        found: dict[str, str] = {}
        async for folder in self.graph.pages(f"/users/{seg(mailbox)}/mailFolders", params):
            found.setdefault(str(folder.get("displayName", "")).lower(), str(folder["id"]))
        return found

    async def move(
        self, mailbox: str, message_id: str, destination_folder_id: str, current_folder_id: str | None = None
    ) -> MessageState:
        """Move (one POST). No request at all when ``current_folder_id`` says it is already there."""
        if current_folder_id is not None and current_folder_id == destination_folder_id:
            return MessageState(message_id, current_folder_id)
        response = await self.graph.request(
            "POST",
            f"{message_path(mailbox, message_id)}/move",
            json={"destinationId": destination_folder_id},
        )
        return MessageState.from_json(_json(response), message_id)

    async def quarantine(
        self, mailbox: str, message_id: str, current_folder_id: str | None = None
    ) -> MessageState:
        """Into the hidden Quarantine folder (one request once the folder ids are cached)."""
        return await self._move_to_own(mailbox, message_id, 0, current_folder_id)

    async def hold(self, mailbox: str, message_id: str, current_folder_id: str | None = None) -> MessageState:
        """Into the hidden Hold folder while analysis runs."""
        return await self._move_to_own(mailbox, message_id, 1, current_folder_id)

    async def _move_to_own(
        self, mailbox: str, message_id: str, which: int, current_folder_id: str | None
    ) -> MessageState:
        folders = await self.ensure_folders(mailbox)
        target = (folders.quarantine, folders.hold)[which]
        try:
            return await self.move(mailbox, message_id, target, current_folder_id)
        except GraphApiError as exc:
            if exc.status != 404:
                raise
            # Perhaps the cached folder was deleted: look again once (the message may be the
            # missing one instead; then the second move fails the same way).
            name = (self.quarantine_name, self.hold_name)[which]
            self.folder_cache.set(f"{self.graph.tenant_id}/{mailbox.lower()}/{name}", "")
            folders = await self.ensure_folders(mailbox)
            target = (folders.quarantine, folders.hold)[which]
            return await self.move(mailbox, message_id, target, current_folder_id)

    async def release(
        self,
        mailbox: str,
        message_id: str,
        original_folder_id: str = "inbox",
        current_folder_id: str | None = None,
    ) -> MessageState:
        """Back where it was (default the inbox: a well-known name Graph accepts as destination)."""
        return await self.move(mailbox, message_id, original_folder_id or "inbox", current_folder_id)

    async def add_file_attachment(
        self,
        mailbox: str,
        message_id: str,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
    ) -> str:
        """Attach a file to a message; returns the new attachment's id.

        Up to 3 MB one POST; up to 150 MB an upload session (one POST, then one PUT per 3.125 MiB).
        Larger files are refused before any request (:class:`AttachmentTooLarge`), so a caller can
        keep the message held with that reason."""
        if len(data) > MAX_UPLOAD_SESSION_BYTES:
            raise AttachmentTooLarge(
                f"{name!r} is {len(data)} bytes; Graph attaches at most {MAX_UPLOAD_SESSION_BYTES} bytes"
            )
        if len(data) > MAX_POST_ATTACHMENT_BYTES:
            return await self._upload(mailbox, message_id, name, data, content_type)
        attachment = FileAttachment(name=name, content_type=content_type, content_bytes=data, is_inline=False)
        builder = self.graph.sdk.users.by_user_id(mailbox).messages.by_message_id(message_id).attachments
        created = await sdk_call(builder.post(attachment), f"add attachment {name}")
        if created is None or not created.id:
            raise GraphApiError(500, "NoAttachmentId", f"Graph added attachment {name!r} without an id")
        return created.id

    async def _upload(self, mailbox: str, message_id: str, name: str, data: bytes, content_type: str) -> str:
        builder = self.graph.sdk.users.by_user_id(mailbox).messages.by_message_id(message_id).attachments
        item = AttachmentItem(
            attachment_type=AttachmentType.File,
            name=name,
            size=len(data),
            content_type=content_type,
            is_inline=False,
        )
        session = await sdk_call(
            builder.create_upload_session.post(CreateUploadSessionPostRequestBody(attachment_item=item)),
            f"upload session for {name}",
        )
        if session is None or not session.upload_url:
            raise GraphApiError(500, "NoUploadUrl", f"Graph opened no upload session for {name!r}")
        http = self.graph.app.http
        location = ""
        for start in range(0, len(data), UPLOAD_CHUNK_BYTES):
            chunk = data[start : start + UPLOAD_CHUNK_BYTES]
            end = start + len(chunk) - 1
            # The upload URL carries its own token: Graph refuses an Authorization header on it.
            request = http.build_request(
                "PUT",
                session.upload_url,
                content=chunk,
                headers={"Content-Range": f"bytes {start}-{end}/{len(data)}"},
                extensions={REQUEST_OPTIONS_KEY: {}},  # the middleware (retries, counter) runs
            )
            response = await http.send(request)
            if not response.is_success:
                raise GraphApiError.from_response(
                    response.status_code, _json(response), "PUT", "upload session"
                )
            location = response.headers.get("Location", "")
        found = _LOCATION_ID.search(location)
        if found is None:
            raise GraphApiError(
                500, "NoAttachmentId", f"the upload of {name!r} ended without the attachment's URL"
            )
        return found.group(1)

    async def delete_attachment(self, mailbox: str, message_id: str, attachment_id: str) -> bool:
        """Remove an attachment (one DELETE). False when Graph no longer has it (a retry after the
        delete went through): the outcome the caller wanted, so not an error."""
        builder = self.graph.sdk.users.by_user_id(mailbox).messages.by_message_id(message_id)
        try:
            await sdk_call(builder.attachments.by_attachment_id(attachment_id).delete(), "delete attachment")
        except GraphApiError as exc:
            if exc.status != 404:
                raise
            return False
        return True

    async def send_mail(
        self,
        sender: str,
        to: Sequence[str],
        subject: str,
        html: str,
        *,
        save_to_sent_items: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a notice from ``sender``'s mailbox (needs Mail.Send); ``headers`` are custom
        ``X-`` headers (Graph refuses any other)."""
        custom = [InternetMessageHeader(name=k, value=v) for k, v in (headers or {}).items()]
        message = SdkMessage(
            subject=subject,
            body=ItemBody(content_type=BodyType.Html, content=html),
            to_recipients=[Recipient(email_address=EmailAddress(address=a)) for a in to],
            internet_message_headers=custom or None,
        )
        body = SendMailPostRequestBody(message=message, save_to_sent_items=save_to_sent_items)
        await sdk_call(self.graph.sdk.users.by_user_id(sender).send_mail.post(body), "sendMail")


def _json(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
