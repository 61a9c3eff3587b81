"""StorageConfig: environment names, precedence, and no secret in reprs."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from connectors.storage.azure import get_stores
from connectors.storage.config import DEV_ACCOUNT_KEY, StorageConfig, azurite_connection_string
from tests.storage.azurite import Azurite

SECRET_KEY = "c2VjcmV0LWtleS1kby1ub3QtbG9n"
CONN = (
    f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={SECRET_KEY};EndpointSuffix=core.windows.net"
)


def test_defaults_to_azurite_with_no_configuration() -> None:
    config = StorageConfig.from_env({})
    assert config.blob_service().url.startswith("http://127.0.0.1:10000/devstoreaccount1")
    assert config.table_service().url.startswith("http://127.0.0.1:10002/devstoreaccount1")


def test_development_shortcut_is_expanded() -> None:
    config = StorageConfig(connection_string=SecretStr("UseDevelopmentStorage=true"))
    assert config.queue_service().url.startswith("http://127.0.0.1:10001/devstoreaccount1")
    assert azurite_connection_string(1, 2, 3).count("127.0.0.1:") == 3


def test_own_connection_string_wins_over_functions_storage() -> None:
    config = StorageConfig.from_env({
        "TAP365_STORAGE_CONNECTION_STRING": CONN,
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "TAP365_STORAGE_PREFIX": "tapprod",
    })
    assert config.blob_service().url.startswith("https://acct.blob.core.windows.net")
    assert config.prefix == "tapprod"


def test_functions_identity_based_connection() -> None:
    config = StorageConfig.from_env({
        "AzureWebJobsStorage__accountName": "tapstore",
        "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000001",
        "AzureWebJobsStorage__credential": "managedidentity",
    })
    assert config.connection_string is None
    assert config.managed_identity_client_id == "00000000-0000-0000-0000-000000000001"
    assert config.table_service().url.startswith("https://tapstore.table.core.windows.net")
    assert config.describe() == (
        "storage https://tapstore.blob.core.windows.net (managed identity), prefix 'tap'"
    )


def test_own_account_name_and_explicit_uris() -> None:
    config = StorageConfig.from_env({
        "TAP365_STORAGE_BLOB_URI": "https://b.example/", "TAP365_STORAGE_QUEUE_URI": "https://q.example",
        "TAP365_STORAGE_TABLE_URI": "https://t.example", "AzureWebJobsStorage": CONN,
    })
    assert config.connection_string is None
    assert config.queue_service().url.startswith("https://q.example")


def test_no_secret_in_repr_or_description() -> None:
    config = StorageConfig.from_env({"AzureWebJobsStorage": CONN})
    for text in (repr(config), str(config), config.describe(), config.model_dump_json()):
        assert SECRET_KEY not in text
    assert DEV_ACCOUNT_KEY not in StorageConfig.from_env({}).describe()


@pytest.mark.parametrize("prefix", ["", "Tap", "tap-x", "1tap", "a" * 21])
def test_prefix_must_fit_every_resource_name(prefix: str) -> None:
    with pytest.raises(ValidationError, match="prefix"):
        StorageConfig(connection_string=SecretStr("UseDevelopmentStorage=true"), prefix=prefix)


def test_needs_a_target() -> None:
    with pytest.raises(ValidationError, match="TAP365_STORAGE_CONNECTION_STRING"):
        StorageConfig()


def test_resource_names_follow_the_prefix() -> None:
    config = StorageConfig(connection_string=SecretStr("UseDevelopmentStorage=true"), prefix="tapdev")
    assert config.notifications_queue == "tapdev-notifications"
    assert config.delayed_queue == "tapdev-delayed"
    assert config.table_name("journal") == "tapdevjournal"
    assert config.container_name("policies") == "tapdev-policies"


def test_get_stores_opens_from_the_environment_once(
    azurite_instance: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAP365_STORAGE_CONNECTION_STRING", azurite_instance.connection_string)
    monkeypatch.setenv("TAP365_STORAGE_PREFIX", "envcfg")
    get_stores.cache_clear()
    try:
        stores = get_stores()
        assert stores is get_stores()
        assert stores.notifications.name == "envcfg-notifications"
        assert azurite_instance.account_key not in repr(stores)
        stores.notifications.send("hello")
    finally:
        get_stores.cache_clear()
