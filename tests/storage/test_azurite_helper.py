"""The Azurite helper itself: a clear message when it cannot run, ports read back from Azurite."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from connectors.devstack import azurite as helper


def test_missing_npm_gives_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helper.shutil, "which", lambda name: None)
    with pytest.raises(helper.AzuriteUnavailable, match=r"install Node.js 20\+, then run `npm ci`"):
        helper.ensure_installed(tmp_path)


def test_session_instance_listens_on_its_reported_ports(azurite_instance: helper.Azurite) -> None:
    for port in (azurite_instance.blob_port, azurite_instance.queue_port, azurite_instance.table_port):
        with socket.create_connection((azurite_instance.host, port), timeout=2):
            pass
    assert azurite_instance.location.is_dir()
    assert "Eby8" not in repr(azurite_instance)
