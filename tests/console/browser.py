"""Fixtures for the console's browser tests: headless Chromium (connectors.devstack.browser) and
the local stack with some real mail processed, so every page has something to show.

A missing chromium, chromium-driver, selenium or axe-core skips with the reason on a
developer's machine and fails under CI=true (the project installs all four). Import the fixtures
into a test module: ``from tests.console.browser import browser, console_stack  # noqa: F401``.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from connectors.devstack.azurite import AzuriteUnavailable
from connectors.devstack.browser import BrowserUnavailable, ConsoleBrowser, axe_source, console_browser
from connectors.devstack.stack import Stack, running_stack
from m365sim.directory import default_seed
from tests.e2e.stack_helpers import MAIL, deliver, find_message, journal_done, wait_for

ROOT = Path(__file__).resolve().parents[2]
#: Where the tests' screenshots go (one per page and test; kept for a person to look at).
SCREENSHOTS = ROOT / "reports" / "console" / "tests"
#: The console's address under the functions URL.
CONSOLE_PATH = "/api/console"
#: The development identity the stack signs in (TAP365_CONSOLE_DEV_IDENTITY): an admin of the
#: simulated tenant's first tenant; the UPN is filled in from the seed.
FAST_HOST = {
    "version": "2.0",
    "functionTimeout": "00:02:00",
    "extensions": {
        "http": {"routePrefix": "api"},
        "queues": {"batchSize": 4, "maxDequeueCount": 3, "visibilityTimeout": "00:00:01",
                   "maxPollingInterval": "00:00:00.200"},
    },
}
#: Delivered before the pages are looked at: a clean newsletter, a phish that is held, an
#: attachment that is quarantined, and a plain memo.
SAMPLES = ("01-newsletter-clean.eml", "02-paypal-lookalike-phish.eml", "05-dangerous-download.eml",
           "06-internal-memo.eml")


def unavailable(reason: str) -> None:
    """Fail under CI (the real part is installed there), else skip saying what is missing."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"the console browser tests need it in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[ConsoleBrowser]:
    """One headless Chromium for the module; screenshots under reports/console/tests/<module>/."""
    folder = SCREENSHOTS / request.module.__name__.rsplit(".", 1)[-1]
    try:
        axe_source()
        with console_browser(screenshots=folder) as b:
            yield b
    except BrowserUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture
def clean_console(browser: ConsoleBrowser) -> Iterator[ConsoleBrowser]:
    """The browser, asserting after the test that no page wrote an error to the console."""
    browser.console_errors()  # what earlier tests left belongs to them
    yield browser
    errors = browser.console_errors()
    assert not errors, errors


@dataclass
class ConsoleStack:
    """The running stack, the console's URL, and what went through it."""

    stack: Stack
    url: str
    admin: str
    #: (mailbox UPN, internet message id, subject) of each message the service held or
    #: quarantined; the signed-in admin's own last.
    held: list[tuple[str, str, str]] = field(default_factory=list)
    #: Hosts of the rewritten links that were clicked.
    clicked_hosts: list[str] = field(default_factory=list)

    def page(self, path: str = "") -> str:
        return f"{self.url}/{path.lstrip('/')}" if path else f"{self.url}/"


@pytest.fixture(scope="module")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleStack]:
    app_root = tmp_path_factory.mktemp("app")
    shutil.copy(ROOT / "function_app.py", app_root / "function_app.py")
    (app_root / "host.json").write_text(json.dumps(FAST_HOST))
    feed = tmp_path_factory.mktemp("intel") / "feed.txt"
    feed.write_text("# console browser tests\n")
    # Digests come from a mailbox of the tenant (sendMail needs a real one).
    sender = default_seed()["tenants"][0]["users"][-1]["userPrincipalName"]
    env = {"TAP365_INTEL_FEEDS": str(feed), "TAP365_ADMIN_NOTIFY_FROM": sender}
    try:
        with running_stack(app_root=app_root, extra_env=env) as stack:
            stack.onboard()
            users = stack.users
            admin = stack.env["TAP365_CONSOLE_DEV_IDENTITY"].split(",", 1)[0]
            console = ConsoleStack(stack, f"{stack.functions_url}{CONSOLE_PATH}", admin)
            # The admin's own mail last, so console.held ends with the admin's own messages.
            people = [next(u for u in users if u != admin), admin]
            for upn in people:
                for n, name in enumerate(SAMPLES):
                    internet_id = deliver(stack, upn, name, f"console-{n}-{time.time_ns()}@contoso.test")
                    wait_for(lambda u=upn, i=internet_id: journal_done(stack, u, i),  # type: ignore[misc]
                             120, what=f"{name} processed")
                    if _is_held(stack, upn, internet_id):
                        subject = (MAIL / name).read_text(errors="replace").split("Subject: ", 1)[1]
                        console.held.append((upn, internet_id, subject.split("\n", 1)[0].strip()))
            assert console.held and console.held[-1][0] == admin, console.held
            console.clicked_hosts = click_links(stack, admin)
            assert console.clicked_hosts
            yield console
    except AzuriteUnavailable as exc:
        unavailable(str(exc))


def _is_held(stack: Stack, upn: str, internet_id: str) -> bool:
    """The message is out of the person's sight: in a folder other than the Inbox."""
    found = find_message(stack, upn, internet_id)
    return bool(found and str(found[0].get("displayName", "")).lower() != "inbox")


_LINK = re.compile(r'href="(http://127\.0\.0\.1:\d+/api/r/1\.[^"]+)"')


def click_links(stack: Stack, upn: str, wanted: int = 2) -> list[str]:
    """Click rewritten links in the person's mail as a browser would (the redirector's answer is
    enough: it records the click); returns the hosts of the URLs the click log recorded."""
    from connectors.service.runtime import Runtime

    clicked = 0
    for folder in stack.sim.mailbox(upn)["folders"]:
        for message in folder["messages"]:
            content = json.dumps(message).replace('\\"', '"')  # the body is a string or {content}
            for link in _LINK.findall(content)[:1]:
                requests.get(html.unescape(link), allow_redirects=False, timeout=60,
                             headers={"User-Agent": "Mozilla/5.0 (console test)", "Accept-Language": "en"})
                clicked += 1
            if clicked >= wanted:
                break
    since = datetime.now(UTC) - timedelta(hours=1)
    records = Runtime.create().stores.clicks.list_clicks(stack.tenant_id, since)
    return sorted({urlsplit(r.url).hostname or "" for r in records} - {""})
