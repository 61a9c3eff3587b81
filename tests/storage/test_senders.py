"""Sender history against Azurite: first seen (address, registered domain), correspondence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import SenderHistory

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_protocol(stores: AzureStores) -> None:
    assert isinstance(stores.senders, SenderHistory)


def test_first_seen_and_correspondence(stores: AzureStores) -> None:
    h = stores.senders
    assert h.first_seen("contoso", "eve@mail.fabrikam.co.uk") is None
    h.record("contoso", "Eve@Mail.Fabrikam.co.uk", ["ann@contoso.com", "bob@contoso.com"], T0)
    h.record("contoso", "eve@mail.fabrikam.co.uk", ["ann@contoso.com"], T0 + timedelta(days=1))
    assert h.first_seen("contoso", "EVE@mail.fabrikam.co.uk") == T0
    assert h.first_seen_domain("contoso", "fabrikam.co.uk") == T0  # registered domain, not the host
    assert h.first_seen_domain("contoso", "mail.fabrikam.co.uk") is None
    assert h.has_corresponded("contoso", "ann@contoso.com", "eve@mail.fabrikam.co.uk")
    assert h.has_corresponded("contoso", "eve@mail.fabrikam.co.uk", "bob@contoso.com")  # either direction
    assert not h.has_corresponded("contoso", "carol@contoso.com", "eve@mail.fabrikam.co.uk")
    assert h.first_seen("fabrikam", "eve@mail.fabrikam.co.uk") is None  # per tenant


def test_late_older_message_moves_first_seen_back(stores: AzureStores) -> None:
    h = stores.senders
    h.record("contoso", "x@new.example", [], T0)
    h.record("contoso", "x@new.example", [], T0 - timedelta(hours=3))
    assert h.first_seen("contoso", "x@new.example") == T0 - timedelta(hours=3)
    assert h.first_seen_domain("contoso", "new.example") == T0 - timedelta(hours=3)


def test_keys_with_unusual_characters(stores: AzureStores) -> None:
    odd = "o'brien/#?\\%|x@example.com"
    stores.senders.record("contoso", odd, ["ann@contoso.com"], T0)
    assert stores.senders.first_seen("contoso", odd) == T0
    assert stores.senders.has_corresponded("contoso", "ann@contoso.com", odd)
    stores.senders.record("contoso", "", ["ann@contoso.com"], T0)  # no sender: nothing to learn


def test_link_domains_first_seen_per_tenant_and_windowed(stores: AzureStores) -> None:
    h = stores.senders
    assert h.first_seen_link_domain("contoso", "northwind-docs.com") is None
    h.record_link_domains("contoso", ["Northwind-Docs.com", "tailspin.net", " "], T0)
    h.record_link_domains("contoso", ["northwind-docs.com"], T0 - timedelta(days=2))  # a late, older message
    assert h.first_seen_link_domain("contoso", "northwind-docs.com") == T0 - timedelta(days=2)
    assert h.first_seen_link_domain("contoso", "tailspin.net") == T0
    assert h.first_seen_link_domain("fabrikam", "tailspin.net") is None  # per tenant
    # Link domains and sender domains are separate facts: a link never makes a sender known.
    assert h.first_seen_domain("contoso", "tailspin.net") is None
    assert h.within(1).first_seen_link_domain("contoso", "tailspin.net") is None  # outside the window
