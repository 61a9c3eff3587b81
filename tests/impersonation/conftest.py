"""Shared helpers for the Impersonation Protect tests: messages are small RFC 822 texts written
here, parsed by the project's own MIME parser."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tap_core.impersonation import ImpersonationPolicy, InternalUser, StaticDirectory, Vip
from tap_core.model.message import Message
from tap_core.parsing.mime import parse_eml

INTERNAL = ["contoso.com"]
VIPS = [
    Vip(name="Jane Doe", email="jane.doe@contoso.com"),
    Vip(name="Robert Smith", email="robert.smith@contoso.com", aliases=["bob@contoso.com"]),
]
NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
# Exchange Online's stamp for mail from outside the tenant.
EXTERNAL = "X-MS-Exchange-Organization-AuthAs: Anonymous"
AUTH_PASS = (
    "Authentication-Results: spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.net; "
    "dkim=pass (signature was verified) header.d=example.net;dmarc=pass action=none "
    "header.from=example.net;compauth=pass reason=100"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: renders HTML in headless Chromium (runs in CI)")


def make_message(
    from_: str = '"Pat Partner" <pat@example.net>',
    *,
    to: str = "alice@contoso.com",
    subject: str = "Project update",
    body: str = "Hello, the report is attached.\n",
    headers: list[str] | None = None,
) -> Message:
    lines = [
        f"From: {from_}",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Mon, 06 May 2024 12:00:00 +0000",
        "Message-ID: <t1@example.net>",
        *(headers if headers is not None else [EXTERNAL, AUTH_PASS]),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
    ]
    return parse_eml("\r\n".join(lines).encode("utf-8"), "test")


@pytest.fixture
def msg() -> Callable[..., Message]:
    return make_message


@pytest.fixture
def policy() -> ImpersonationPolicy:
    return ImpersonationPolicy()


@pytest.fixture
def directory() -> StaticDirectory:
    return StaticDirectory(
        [
            InternalUser("Jane Doe", "jane.doe@contoso.com"),
            InternalUser("Robert Smith", "robert.smith@contoso.com", aliases=("bob@contoso.com",)),
            InternalUser("Alice Martin", "alice@contoso.com", groups=frozenset({"finance"})),
            InternalUser("Chidi Okafor", "chidi.okafor@contoso.com"),
            InternalUser("María José García-López", "mj.garcia@contoso.com"),
        ]
    )
