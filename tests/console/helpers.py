"""Helpers for console tests: read what a rendered page holds."""

from __future__ import annotations

import re

from connectors.console.app import ConsoleResponse

_TOKEN = re.compile(r'name="csrf[-_]token" (?:value|content)="([^"]+)"')


def csrf_token(response: ConsoleResponse) -> str:
    """The CSRF token a rendered page carries (its meta tag or first form)."""
    found = _TOKEN.search(response.body.decode("utf-8"))
    assert found, "the page holds no form with a CSRF token"
    return found.group(1)
