"""Messages for the authentication tests: small RFC 822 texts parsed by the project's own parser."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tap_core.model.message import Message
from tap_core.parsing.mime import parse_eml


def make_message(
    from_: str = '"Pat Partner" <pat@example.net>', *, headers: list[str] | None = None
) -> Message:
    """A short message with ``headers`` (topmost first) above the usual ones."""
    lines = [
        *(headers or []),
        f"From: {from_}",
        "To: alice@contoso.com",
        "Subject: Project update",
        "Date: Mon, 06 May 2024 12:00:00 +0000",
        "Message-ID: <t1@example.net>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Hello, the report is attached.",
    ]
    return parse_eml("\r\n".join(lines).encode("utf-8", "surrogateescape"), "test")


@pytest.fixture
def msg() -> Callable[..., Message]:
    return make_message
