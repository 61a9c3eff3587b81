"""One Azurite and one local host running ``sample_app`` for the module-level tests that need them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.localhost.host import LocalHost
from tests.localhost.running import running_host
from tests.storage.azurite import Azurite

SAMPLE_APP = Path(__file__).parent / "sample_app"
KEYS = "key-one,key-two"


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sample-out")


@pytest.fixture(scope="session")
def sample_host(azurite_instance: Azurite, out_dir: Path) -> Iterator[LocalHost]:
    env = {
        "AzureWebJobsStorage": azurite_instance.connection_string,
        "SAMPLE_OUT_DIR": str(out_dir),
        "TAP365_FUNCTION_KEYS": KEYS,
    }
    with running_host(SAMPLE_APP, env, settings_file=SAMPLE_APP / "sample.settings.json") as host:
        yield host


@pytest.fixture
def client(sample_host: LocalHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sample_host.base_url, trust_env=False, timeout=30) as c:
        yield c


def read_records(out_dir: Path, name: str) -> list[dict[str, Any]]:
    path = out_dir / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; return it, or fail with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
