"""What every blob-backed store shares: its container, created once by ``ensure``."""

from __future__ import annotations

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient


class ContainerStore:
    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self._container = service.get_container_client(container)

    def ensure(self) -> None:
        try:
            self._container.create_container()
        except ResourceExistsError:
            pass
