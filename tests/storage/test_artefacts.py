"""Artefact blobs against Azurite: round trip, size limit, tenant separation."""

from __future__ import annotations

import hashlib

import pytest

from connectors.storage.artefacts import BlobArtefactStore
from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from connectors.storage.interfaces import ArtefactStore, ArtefactTooLarge


def test_protocol(stores: AzureStores) -> None:
    assert isinstance(stores.artefacts, ArtefactStore)


def test_round_trip(stores: AzureStores) -> None:
    data = bytes(range(256)) * 1000
    digest = stores.artefacts.put("contoso", "msg1/invoice.docm", data,
                                  content_type="application/vnd.ms-word",
                                  metadata={"filename": "invoice.docm"})
    assert digest == hashlib.sha256(data).hexdigest()
    assert stores.artefacts.get("contoso", "msg1/invoice.docm") == data
    assert stores.artefacts.get("fabrikam", "msg1/invoice.docm") is None
    stores.artefacts.delete("contoso", "msg1/invoice.docm")
    stores.artefacts.delete("contoso", "msg1/invoice.docm")
    assert stores.artefacts.get("contoso", "msg1/invoice.docm") is None


def test_size_limit_on_put_and_get(storage_config: StorageConfig) -> None:
    service = storage_config.blob_service()
    big = BlobArtefactStore(service, f"{storage_config.prefix}-art", max_bytes=1000)
    big.ensure()
    with pytest.raises(ArtefactTooLarge, match="limit is 1000"):
        big.put("contoso", "a.bin", b"x" * 1001)
    big.max_bytes = 5000
    big.put("contoso", "a.bin", b"x" * 3000)
    big.max_bytes = 1000  # a lowered limit is enforced before download too
    with pytest.raises(ArtefactTooLarge):
        big.get("contoso", "a.bin")


@pytest.mark.parametrize("name", ["../other/a", "/abs", "a//b", "", "a\\b"])
def test_names_cannot_escape_the_tenant(stores: AzureStores, name: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        stores.artefacts.put("contoso", name, b"x")


def test_metadata_is_made_header_safe(stores: AzureStores, storage_config: StorageConfig) -> None:
    stores.artefacts.put("contoso", "m/re.pdf", b"%PDF", metadata={"file-name": "Réunion.pdf"})
    props = storage_config.blob_service().get_blob_client(
        storage_config.container_name("artefacts"), "contoso/m/re.pdf").get_blob_properties()
    assert props.metadata["file_name"] == "R\\xe9union.pdf"
