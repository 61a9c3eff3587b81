"""Every setting has one name, used in code, local.settings.json.example and the README."""

from __future__ import annotations

import json
import re
from pathlib import Path

from connectors.click_service import ClickSettings
from connectors.graph.config import GraphSettings
from connectors.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _code_names() -> set[str]:
    return {f"TAP365_{name.upper()}" for name in Settings.model_fields}


def _all_code_names() -> set[str]:
    """Every TAP365_ variable some settings model of ours reads."""
    names = _code_names() | {f"TAP365_GRAPH_{n.upper()}" for n in GraphSettings.model_fields}
    names |= {f"TAP365_{n.upper()}" for n in ClickSettings.model_fields}
    for module in ("connectors/sandbox", "connectors/localhost"):
        for path in (ROOT / module).rglob("*.py"):
            names |= set(re.findall(r"TAP365_[A-Z_]+[A-Z]", path.read_text()))
    storage = (ROOT / "connectors" / "storage" / "config.py").read_text()
    names |= set(re.findall(r"TAP365_STORAGE_[A-Z_]+[A-Z]", storage))
    return names


def test_example_settings_match_code() -> None:
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    ours = {k for k in values if k.startswith("TAP365_")}
    assert _code_names() | {f"TAP365_GRAPH_{n.upper()}" for n in GraphSettings.model_fields} <= ours
    assert ours - _all_code_names() == set(), "the example sets variables no code reads"


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in sorted(_code_names()) if f"`{n}`" not in readme]
    assert not missing


def test_defaults_need_no_configuration(monkeypatch, tmp_path) -> None:
    for name in _code_names():
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert s.redirect_base_url.startswith("http")
    monkeypatch.setenv("TAP365_REDIRECT_BASE_URL", "https://tap.contoso.test/api/r")
    assert Settings().redirect_base_url == "https://tap.contoso.test/api/r"
