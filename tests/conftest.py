"""Fixtures every test folder shares: one real Azurite per session (OS-chosen ports, deleted
afterwards) and, per test, the service's stores under a prefix of their own."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from connectors.devstack.rdap import RdapSimClient, simulated_rdap
from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from tests.storage.azurite import Azurite, AzuriteUnavailable, azurite

_prefix = itertools.count(1)


@pytest.fixture(scope="session")
def azurite_instance() -> Iterator[Azurite]:
    try:
        with azurite() as emulator:
            yield emulator
    except AzuriteUnavailable as error:
        pytest.skip(f"Azurite unavailable: {error}")


@pytest.fixture
def storage_config(azurite_instance: Azurite) -> StorageConfig:
    """A config with a prefix of its own, so each test gets fresh tables, containers and queues."""
    return StorageConfig(
        connection_string=SecretStr(azurite_instance.connection_string), prefix=f"t{next(_prefix)}x"
    )


@pytest.fixture
def stores(storage_config: StorageConfig) -> AzureStores:
    return AzureStores.open(storage_config)


@pytest.fixture(scope="session")
def rdap_sim_server() -> Iterator[RdapSimClient]:
    """One simulated RDAP service (``python -m rdapsim``) per session; pure Python, never skipped."""
    with simulated_rdap() as client:
        yield client


@pytest.fixture
def rdap_sim(rdap_sim_server: RdapSimClient) -> RdapSimClient:
    """The session's RDAP service with no configured domain, no limit and zeroed stats."""
    rdap_sim_server.reset()
    return rdap_sim_server
