"""Policy documents in blobs against Azurite: ETag concurrency and version history."""

from __future__ import annotations

import pytest

from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import PolicyConflict, PolicyStore


def test_protocol(stores: AzureStores) -> None:
    assert isinstance(stores.policies, PolicyStore)


def test_create_update_conflict_and_history(stores: AzureStores) -> None:
    assert stores.policies.get_policy("contoso") is None
    first = stores.policies.put_policy("contoso", {"url": {"rewrite": True}}, etag=None, updated_by="ann")
    assert first.version == 1
    with pytest.raises(PolicyConflict, match="already exists"):
        stores.policies.put_policy("contoso", {"url": {}}, etag=None, updated_by="bob")

    read_by_ann = stores.policies.get_policy("contoso")
    read_by_bob = stores.policies.get_policy("contoso")
    assert read_by_ann is not None and read_by_bob is not None
    assert read_by_ann.document == {"url": {"rewrite": True}} and read_by_ann.etag == first.etag
    second = stores.policies.put_policy("contoso", {"url": {"rewrite": False}}, etag=read_by_ann.etag,
                                        updated_by="ann")
    assert second.version == 2
    with pytest.raises(PolicyConflict, match="re-read"):
        stores.policies.put_policy("contoso", {"url": {"rewrite": True, "x": 1}}, etag=read_by_bob.etag,
                                   updated_by="bob")
    current = stores.policies.get_policy("contoso")
    assert current is not None and current.document == {"url": {"rewrite": False}} and current.version == 2
    assert current.updated_by == "ann"

    history = stores.policies.policy_history("contoso")
    assert [(h.version, h.document) for h in history] == [(2, {"url": {"rewrite": False}}),
                                                          (1, {"url": {"rewrite": True}})]
    assert stores.policies.get_policy("fabrikam") is None


def test_stale_etag_for_a_missing_policy_is_a_conflict(stores: AzureStores) -> None:
    with pytest.raises(PolicyConflict):
        stores.policies.put_policy("newtenant", {}, etag='"0x8DBAD"', updated_by="x")
