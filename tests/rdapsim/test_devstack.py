"""The local stack's registry (``connectors/devstack/rdap.py``): started with the stack, named to
the host through TAP365_RDAP_BOOTSTRAP, driven as ``stack.rdap``, stopped on exit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from connectors.devstack.rdap import simulated_rdap
from connectors.devstack.stack import running_stack


def test_the_stack_starts_the_registry_and_names_it_to_the_host() -> None:
    before = os.environ.get("TAP365_RDAP_BOOTSTRAP")
    with running_stack() as stack:
        assert stack.rdap is not None
        assert stack.env["TAP365_RDAP_ENABLED"] == "true" == os.environ["TAP365_RDAP_ENABLED"]
        bootstrap = json.loads(Path(stack.env["TAP365_RDAP_BOOTSTRAP"]).read_text(encoding="utf-8"))
        [[tlds, urls]] = bootstrap["services"]
        assert urls == [f"{stack.rdap.base_url}/"] and {"com", "org", "xyz", "test"} <= set(tlds)
        stack.rdap.set_domain("fresh-login.xyz", registered_days_ago=2)
        answer = requests.get(f"{urls[0]}domain/fresh-login.xyz", timeout=10).json()
        assert answer["ldhName"] == "fresh-login.xyz"
        assert stack.rdap.stats()["by_domain"] == {"fresh-login.xyz": 1}
        base = stack.rdap.base_url
    assert os.environ.get("TAP365_RDAP_BOOTSTRAP") == before  # the stack's file is gone with it
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/help", timeout=5)


def test_the_control_client_drives_every_switch(tmp_path: Path) -> None:
    with simulated_rdap() as rdap:
        rdap.set_domain("down.example", behaviour="error", status=502)
        rdap.set_limits(1000)
        path = rdap.write_bootstrap(tmp_path / "dns.json", ["example"])
        url = json.loads(path.read_text(encoding="utf-8"))["services"][0][1][0]
        assert requests.get(f"{url}domain/down.example", timeout=10).status_code == 502
        assert rdap.stats()["requests"] == 1
        rdap.reset_stats()
        assert rdap.stats()["requests"] == 0
        rdap.forget_domains()
        assert requests.get(f"{url}domain/down.example", timeout=10).status_code == 200
        rdap.set_domain("gone.example", behaviour="not_found")
        rdap.reset()
        assert requests.get(f"{url}domain/gone.example", timeout=10).status_code == 200
