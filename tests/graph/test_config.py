"""GraphSettings: env names, validation and errors that say what to set."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.graph.config import GraphSettings
from connectors.graph.errors import GraphApiError, GraphAuthError


def test_reads_tap365_graph_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    monkeypatch.setenv("TAP365_GRAPH_CLIENT_ID", "app")
    monkeypatch.setenv("TAP365_GRAPH_CLIENT_SECRET", "s")
    monkeypatch.setenv("TAP365_GRAPH_BASE_URL", "https://127.0.0.1:8443/v1.0/")
    monkeypatch.setenv("TAP365_GRAPH_CA_BUNDLE", str(ca))
    monkeypatch.setenv("TAP365_GRAPH_MAX_RETRIES", "5")
    settings = GraphSettings()
    assert settings.base_url == "https://127.0.0.1:8443/v1.0"  # no trailing slash for the SDK
    assert settings.max_retries == 5 and settings.max_concurrency == 4
    assert settings.verify == str(ca)
    assert "client_secret" not in repr(settings)  # secrets stay out of logs
    settings.check()


def test_check_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TAP365_GRAPH_CLIENT_ID"):
        GraphSettings(client_id="").check()
    with pytest.raises(ValueError, match=r"TAP365_GRAPH_CERTIFICATE_PATH .* or TAP365_GRAPH_CLIENT_SECRET"):
        GraphSettings(client_id="a").check()
    with pytest.raises(ValueError, match="is not a file"):
        GraphSettings(client_id="a", certificate_path=str(tmp_path / "missing.pem")).check()
    with pytest.raises(ValidationError):
        GraphSettings(max_retries=11)


def test_error_messages() -> None:
    err = GraphAuthError.from_msal(
        "t1",
        {"error": "invalid_client", "error_description": "AADSTS700016: Application not found.", "error_codes": []},
    )
    assert err.aadsts == 700016 and "AADSTS700016" in str(err) and "consent" in str(err)
    api = GraphApiError.from_response(404, {"error": {"code": "ErrorItemNotFound", "message": "gone"}}, "GET", "/x")
    assert api.code == "ErrorItemNotFound" and "404" in str(api)
