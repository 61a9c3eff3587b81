"""Tenants and subscriptions against Azurite; the clientState never stored, logged or shown."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import (
    ClientStateCheck,
    Subscription,
    SubscriptionStore,
    Tenant,
    TenantStore,
)
from connectors.storage.tenants import new_client_state

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _sub(sub_id: str, tenant: str = "contoso", hours: int = 70) -> Subscription:
    return Subscription(sub_id, tenant, "ann@contoso.com", "users/ann/mailFolders('inbox')/messages",
                        T0 + timedelta(hours=hours))


def test_protocols(stores: AzureStores) -> None:
    assert isinstance(stores.tenants, TenantStore)
    assert isinstance(stores.subscriptions, SubscriptionStore)


def test_tenant_records(stores: AzureStores) -> None:
    tenant = Tenant("72f988bf-86f1-41af-91ab-2d7cd011db47", "Contoso", T0, "active",
                    ("ann@contoso.com", "bob@contoso.com"), "group-1")
    stores.tenants.put_tenant(tenant)
    stores.tenants.put_tenant(Tenant("t2", "Fabrikam", T0, "suspended"))
    assert stores.tenants.get_tenant(tenant.tenant_id) == tenant
    assert stores.tenants.get_tenant("nope") is None
    assert {t.tenant_id for t in stores.tenants.list_tenants()} == {tenant.tenant_id, "t2"}
    assert [t.tenant_id for t in stores.tenants.list_tenants(status="suspended")] == ["t2"]


def test_subscription_lookup_and_client_state(stores: AzureStores) -> None:
    secret = new_client_state()
    stores.subscriptions.put_subscription(_sub("sub-1"), secret)
    got = stores.subscriptions.get_subscription("sub-1")
    assert got is not None and got.tenant_id == "contoso" and got.expires_at == T0 + timedelta(hours=70)
    check = stores.subscriptions.verify_client_state
    assert check("sub-1", secret.get_secret_value()) is ClientStateCheck.OK
    assert check("sub-1", secret.get_secret_value() + "x") is ClientStateCheck.MISMATCH
    assert check("sub-1", "") is ClientStateCheck.MISMATCH
    ok, sub = stores.subscriptions.authenticate("sub-1", secret.get_secret_value())
    assert ok is ClientStateCheck.OK and sub is not None and sub.subscription_id == "sub-1"
    assert stores.subscriptions.authenticate("sub-1", "wrong") == (ClientStateCheck.MISMATCH, None)
    assert stores.subscriptions.authenticate("nope", "x") == (ClientStateCheck.UNKNOWN_SUBSCRIPTION, None)
    assert check("sub-2", secret.get_secret_value()) is ClientStateCheck.UNKNOWN_SUBSCRIPTION
    # The same clientState on another subscription does not verify there (salted by subscription id).
    stores.subscriptions.put_subscription(_sub("sub-2"), new_client_state())
    assert check("sub-2", secret.get_secret_value()) is ClientStateCheck.MISMATCH


def test_client_state_never_stored_logged_or_shown(
    stores: AzureStores, caplog: pytest.LogCaptureFixture
) -> None:
    secret = new_client_state()
    value = secret.get_secret_value()
    with caplog.at_level(logging.DEBUG):
        stores.subscriptions.put_subscription(_sub("sub-s"), secret)
        stores.subscriptions.verify_client_state("sub-s", value)
        stores.subscriptions.verify_client_state("sub-s", "wrong")
        sub = stores.subscriptions.get_subscription("sub-s")
    assert value not in caplog.text
    assert value not in repr(sub) and value not in repr(secret) and value not in repr(stores)
    raw = stores.subscriptions._store.read("sub-s", "subscription")  # what an attacker with the table sees
    assert raw is not None and value not in repr(raw)
    assert len(raw["ClientStateHash"]) == 64


def test_client_state_length_is_graphs(stores: AzureStores) -> None:
    with pytest.raises(ValueError, match="1-128"):
        stores.subscriptions.put_subscription(_sub("s"), SecretStr("x" * 129))


def test_expiry_delta_links_listing_and_delete(stores: AzureStores) -> None:
    stores.subscriptions.put_subscription(_sub("a", hours=10), new_client_state())
    stores.subscriptions.put_subscription(_sub("b", hours=60), new_client_state())
    stores.subscriptions.put_subscription(_sub("c", tenant="fabrikam", hours=5), new_client_state())
    stores.subscriptions.set_delta_link("a", "inbox", "https://graph.microsoft.com/v1.0/delta?$deltatoken=1")
    stores.subscriptions.set_delta_link("a", "archive", "https://graph/delta?$deltatoken=2")
    stores.subscriptions.set_expiry("a", T0 + timedelta(hours=70))
    a = stores.subscriptions.get_subscription("a")
    assert a is not None and a.expires_at == T0 + timedelta(hours=70)
    assert a.delta_links == {"inbox": "https://graph.microsoft.com/v1.0/delta?$deltatoken=1",
                             "archive": "https://graph/delta?$deltatoken=2"}
    stores.subscriptions.set_delta_link("a", "archive", None)
    a = stores.subscriptions.get_subscription("a")
    assert a is not None and set(a.delta_links) == {"inbox"}
    expiring = stores.subscriptions.list_subscriptions(expiring_before=T0 + timedelta(hours=65))
    assert [s.subscription_id for s in expiring] == ["c", "b"]
    assert [s.subscription_id for s in stores.subscriptions.list_subscriptions("contoso")] == ["b", "a"]
    stores.subscriptions.delete_subscription("a")
    stores.subscriptions.delete_subscription("a")  # idempotent
    assert stores.subscriptions.get_subscription("a") is None
    with pytest.raises(KeyError, match="not stored"):
        stores.subscriptions.set_expiry("a", T0)
