"""Per-request context handed to Graph handlers: caller identity, target mailbox, helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from .directory import Tenant, User
from .errors import GraphError, access_denied, invalid_user, item_not_found
from .mailbox import Folder, Mailbox, Message
from .router import GraphRequest
from .tokens import TokenClaims

if TYPE_CHECKING:
    from .state import SimState

MAIL_READ = frozenset({"Mail.Read", "Mail.ReadWrite"})
MAIL_WRITE = frozenset({"Mail.ReadWrite"})
MAIL_ADVANCED = frozenset(
    {"Mail-Advanced.ReadWrite", "Mail-Advanced.ReadWrite.All", "Mail-Advanced.ReadWrite.Shared"}
)
MAIL_SEND = frozenset({"Mail.Send"})
USER_READ = frozenset(
    {
        "User.Read.All",
        "User.ReadWrite.All",
        "User.ReadBasic.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
SUBSCRIBE_MAIL = frozenset({"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic", "Mail.ReadBasic.All"})


@dataclass
class Ctx:
    state: SimState
    req: GraphRequest
    params: dict[str, str]
    claims: TokenClaims

    @property
    def tenant(self) -> Tenant:
        return self.state.directory.tenants[self.claims.tenant_id]

    @property
    def immutable(self) -> bool:
        return self.req.immutable_ids

    def has_any(self, roles: frozenset[str]) -> bool:
        return not self.state.config.enforce_permissions or bool(self.claims.roles & roles)

    def require_mail(self, roles: frozenset[str]) -> None:
        if not self.has_any(roles):
            raise access_denied()

    def user(self) -> User:
        ref = self.params["user"]
        user = self.tenant.find_user(ref)
        if user is None:
            raise invalid_user(ref)
        return user

    def mailbox(self, roles: frozenset[str] = MAIL_READ) -> Mailbox:
        """The target mailbox, after the app-role and RBAC-scope checks Exchange makes."""
        user = self.user()
        self.require_mail(roles)
        grant = self.state.directory.grant(self.claims.tenant_id, self.claims.app_id)
        if (
            self.state.config.enforce_permissions
            and grant is not None
            and grant.mailboxes is not None
            and user.id not in grant.mailboxes
        ):
            raise access_denied()
        return self.state.mailboxes[user.id]

    def folder(self, mailbox: Mailbox, key: str | None = None) -> Folder:
        """The folder in the URL; for .../childFolders/{child} paths, the child."""
        key = key or ("child" if "child" in self.params else "folder")
        folder = mailbox.folder(self.params[key])
        if folder is None:
            raise item_not_found()
        return folder

    def message(self, mailbox: Mailbox) -> Message:
        message = mailbox.get_message(
            self.params["message"], self.immutable, self.state.config.strict_id_types
        )
        if message is None:
            raise item_not_found()
        return message

    def message_id(self, message: Message) -> str:
        return message.immutable_id if self.immutable else message.rest_id

    def link(self, path: str, query: dict[str, str]) -> str:
        encoded = urlencode(query, quote_via=quote, safe="$'(),:/@")
        return f"{self.req.base_url}/v1.0{path}" + (f"?{encoded}" if encoded else "")

    def context_url(self, fragment: str) -> str:
        return f"{self.req.base_url}/v1.0/$metadata#{fragment}"


def not_found_if(condition: bool) -> None:
    if condition:
        raise item_not_found()


def bad_input(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)
