"""Microsoft Graph connector: MSAL auth, Graph client, remediation, subscriptions, notifications.

Typical use (async)::

    app = GraphApp(GraphSettings())            # one per app registration
    graph = app.tenant(tenant_id)              # one credential and SDK client per tenant
    fetched = await fetch_message(graph, mailbox, message_id)
    outcome = await Remediator(graph).patch_body(mailbox, message_id, new_html)
"""

from .auth import AsyncTenantCredential, CredentialPool, TenantCredential
from .client import BatchRequest, BatchResponse, GraphApp, TenantGraph
from .config import GraphSettings
from .doctor import DoctorReport, format_report, run_doctor
from .errors import GraphApiError, GraphAuthError
from .messages import FetchedMessage, fetch_message
from .remediation import FolderCache, FolderIds, MessageState, PatchOutcome, Remediator
from .subscriptions import DeltaResult, SubscriptionInfo, SubscriptionManager, delta_sync

__all__ = [
    "AsyncTenantCredential",
    "BatchRequest",
    "BatchResponse",
    "CredentialPool",
    "DeltaResult",
    "DoctorReport",
    "FetchedMessage",
    "FolderCache",
    "FolderIds",
    "GraphApiError",
    "GraphApp",
    "GraphAuthError",
    "GraphSettings",
    "MessageState",
    "PatchOutcome",
    "Remediator",
    "SubscriptionInfo",
    "SubscriptionManager",
    "TenantCredential",
    "TenantGraph",
    "delta_sync",
    "fetch_message",
    "format_report",
    "run_doctor",
]
