"""The runtime's 30-second policy cache against an admin change that lands while a policy is
being read (the real Azure Table store on Azurite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.graph.config import GraphSettings
from connectors.service.runtime import Runtime
from connectors.settings import Settings
from connectors.storage.config import StorageConfig

TENANT = "0f1e2d3c-4b5a-4697-8877-665544332211"


def test_a_load_overlapping_an_admin_change_is_not_cached(
        storage_config: StorageConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No Graph call is made: the app registration only has to be well-formed.
    graph = GraphSettings(client_id="00000000-0000-4000-8000-000000000001", client_secret="unused")
    runtime = Runtime.create(Settings(state_dir=tmp_path), graph_settings=graph, storage=storage_config)
    policies = runtime.stores.policies
    policies.put_policy(TENANT, {}, etag=None, updated_by="test")
    read = policies.get_policy

    def read_then_admin_changes_it(tenant_id: str):  # type: ignore[no-untyped-def]
        doc = read(tenant_id)  # the worker has read the old document...
        monkeypatch.setattr(policies, "get_policy", read)  # (the admin's save reads it too)
        policies.put_policy(tenant_id, {"attachments": {"mode": "safe_file"}},
                            etag=doc.etag if doc else None, updated_by="admin")
        runtime.forget_policy(tenant_id)  # ...when the admin API saves a new one
        return doc

    monkeypatch.setattr(policies, "get_policy", read_then_admin_changes_it)
    overlapping, _ = runtime.policy(TENANT)
    assert overlapping.attachments.mode == "dynamic"  # what that message was processed with
    after, _ = runtime.policy(TENANT)
    assert after.attachments.mode == "safe_file"  # not the old one, cached for 30 s
    runtime.forget_policy(TENANT)
    assert runtime.policy(TENANT)[0].attachments.mode == "safe_file"
