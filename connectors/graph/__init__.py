"""Microsoft Graph connector: MSAL auth, Graph client, remediation, subscriptions, notifications.

Typical use (async)::

    app = GraphApp(GraphSettings())            # one per app registration
    graph = app.tenant(tenant_id)              # one credential and SDK client per tenant
    fetched = await fetch_message(graph, mailbox, message_id)
    outcome = await Remediator(graph).patch_body(mailbox, message_id, new_html)
"""

from typing import TYPE_CHECKING

from tap_core import lazy_exports

if TYPE_CHECKING:
    from .auth import AsyncTenantCredential, CredentialPool, TenantCredential
    from .client import BatchRequest, BatchResponse, GraphApp, TenantGraph
    from .config import GraphSettings
    from .doctor import DoctorReport, format_report, run_doctor
    from .errors import GraphApiError, GraphAuthError
    from .messages import FetchedMessage, fetch_message
    from .remediation import FolderCache, FolderIds, MessageState, PatchOutcome, Remediator
    from .subscriptions import DeltaResult, SubscriptionInfo, SubscriptionManager, delta_sync

#: Loaded on first use: importing one submodule must not load all of them (cold start).
__getattr__ = lazy_exports(__name__, {
    "AsyncTenantCredential": "connectors.graph.auth",
    "CredentialPool": "connectors.graph.auth",
    "TenantCredential": "connectors.graph.auth",
    "BatchRequest": "connectors.graph.client",
    "BatchResponse": "connectors.graph.client",
    "GraphApp": "connectors.graph.client",
    "TenantGraph": "connectors.graph.client",
    "GraphSettings": "connectors.graph.config",
    "DoctorReport": "connectors.graph.doctor",
    "format_report": "connectors.graph.doctor",
    "run_doctor": "connectors.graph.doctor",
    "GraphApiError": "connectors.graph.errors",
    "GraphAuthError": "connectors.graph.errors",
    "FetchedMessage": "connectors.graph.messages",
    "fetch_message": "connectors.graph.messages",
    "FolderCache": "connectors.graph.remediation",
    "FolderIds": "connectors.graph.remediation",
    "MessageState": "connectors.graph.remediation",
    "PatchOutcome": "connectors.graph.remediation",
    "Remediator": "connectors.graph.remediation",
    "DeltaResult": "connectors.graph.subscriptions",
    "SubscriptionInfo": "connectors.graph.subscriptions",
    "SubscriptionManager": "connectors.graph.subscriptions",
    "delta_sync": "connectors.graph.subscriptions",
})

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
