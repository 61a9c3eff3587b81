"""The console in real headless Chromium against the running local stack (Azurite, the simulated
tenant, the local Functions host) after real mail went through it: sign-in with the development
identity, every page rendered with data, no console errors, the keyboard reaches every control
in order with the focus shown, axe-core finds nothing serious, and the actions a person takes
(release, a release request from the digest, a policy edit) work in the browser.

Screenshots of every page go to reports/console/tests/test_browser_console/.
"""

from __future__ import annotations

import asyncio
import html
import json
import re

import pytest
import requests
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from connectors.console.app import NAV
from connectors.devstack.browser import ConsoleBrowser
from tests.console.browser import (  # noqa: F401  (fixtures)
    SAMPLES,
    ConsoleStack,
    browser,
    clean_console,
    console_stack,
)
from tests.e2e.stack_helpers import find_message, wait_for

pytestmark = pytest.mark.slow


PAGES = [pytest.param(label, path, id=path.strip("/") or "overview") for label, path in NAV]


def _main(b: ConsoleBrowser) -> WebElement:
    return b.driver.find_element(By.CSS_SELECTOR, "main")


def _subjects(console: ConsoleStack, status: str | None = None) -> list[str]:
    from connectors.service.runtime import Runtime

    entries = Runtime.create().stores.quarantine.list(console.stack.tenant_id)
    return [e.subject for e in entries if e.subject and (status is None or e.status == status)]


def _has_rows(b: ConsoleBrowser) -> bool:
    return bool(b.driver.find_elements(By.CSS_SELECTOR, "main table tbody tr"))


def _shows_data(console: ConsoleStack, b: ConsoleBrowser, path: str) -> bool:
    """What each page must show after the fixture's mail and click went through."""
    text = _main(b).text
    if path == "/":
        return bool(b.driver.find_elements(By.CSS_SELECTOR, "main svg")) and _has_rows(b)
    if path == "/held":
        return any(s in text for s in _subjects(console))
    if path == "/clicks":
        return any(host in text for host in console.clicked_hosts)
    if path == "/audit":
        return _has_rows(b)
    if path == "/policy":
        return bool(b.driver.find_elements(By.CSS_SELECTOR, "main form[method=post] button[type=submit]"))
    if path == "/health":
        return console.stack.users[0] in text or console.stack.tenant_id in text
    return bool(text.strip())  # release requests: none yet is a valid page (the actions below make one)


def test_sign_in_with_the_development_identity(console_stack: ConsoleStack, clean_console: ConsoleBrowser) -> None:  # noqa: F811
    b = clean_console
    b.open(console_stack.page(""))
    who = b.driver.find_element(By.CSS_SELECTOR, "header .who")
    assert console_stack.admin in who.text and "TAP365.Admin" in who.text, who.text
    assert console_stack.stack.tenant_id.lower() in who.text
    labels = [text for text, _ in b.nav_links()]
    assert labels == [label for label, _ in NAV]
    b.screenshot("sign-in")


@pytest.mark.parametrize(("label", "path"), PAGES)
def test_page_renders_with_data(console_stack: ConsoleStack, clean_console: ConsoleBrowser, label: str,  # noqa: F811
                                path: str) -> None:
    b = clean_console
    b.open(console_stack.page(path))
    heading = b.driver.find_element(By.CSS_SELECTOR, "main h1").text.strip()
    assert heading, "the page has no heading"
    current = b.driver.find_element(By.CSS_SELECTOR, "nav a[aria-current=page]").text.strip()
    assert current == label
    b.screenshot(f"page-{path.strip('/') or 'overview'}")
    assert _shows_data(console_stack, b, path), _main(b).text[:2000]


@pytest.mark.parametrize(("label", "path"), PAGES)
def test_keyboard_reaches_every_control_in_order_with_focus_shown(
    console_stack: ConsoleStack, clean_console: ConsoleBrowser, label: str, path: str  # noqa: F811
) -> None:
    b = clean_console
    b.open(console_stack.page(path))
    assert b.driver.find_element(By.CSS_SELECTOR, "main h1").text.strip()
    stops = b.tab_order()
    assert stops and stops[0].label == "Skip to content", [s.describe() for s in stops[:3]]
    nav = [s.label for s in stops if s.in_nav]
    assert nav == [lbl for lbl, _ in NAV], nav  # every nav entry, in the nav's order
    # Every enabled, visible control of <main> is reached, in document order (no tabindex games).
    expected: list[str] = b.driver.execute_script(
        "return [...document.querySelectorAll('main a[href], main button, main input, main select,"
        " main textarea, main summary, main [tabindex]')]"
        ".filter(e => !e.disabled && e.type !== 'hidden' && e.tabIndex >= 0 && e.getClientRects().length)"
        ".map(e => (e.getAttribute('aria-label') || e.innerText || e.value || e.getAttribute('name') || '')"
        ".trim().replace(/\\s+/g, ' ').slice(0, 120));")
    reached = [s.label for s in stops if s.in_main]
    assert reached == expected
    hidden = [s.describe() for s in stops if not s.focus_visible]
    assert not hidden, f"focus not shown on {hidden}"


@pytest.mark.parametrize(("label", "path"), PAGES)
def test_no_serious_accessibility_violations(console_stack: ConsoleStack, clean_console: ConsoleBrowser,  # noqa: F811
                                              label: str, path: str) -> None:
    b = clean_console
    b.open(console_stack.page(path))
    assert b.driver.find_element(By.CSS_SELECTOR, "main h1").text.strip()
    violations = [v.describe() for v in b.blocking_axe_violations()]
    assert not violations, violations


# -- actions -------------------------------------------------------------------------------------


def _accept_confirm(b: ConsoleBrowser) -> None:
    """console.js asks before some actions (data-confirm); a person says yes."""
    try:
        b.driver.switch_to.alert.accept()
    except NoAlertPresentException:
        pass


def _quarantined(console: ConsoleStack, *, mailbox: str = "", other_than: str = "") -> tuple[str, str, str]:
    """A message the service quarantined (not one still held for analysis) for ``mailbox``."""
    for upn, internet_id, subject in console.held:
        found = find_message(console.stack, upn, internet_id)
        in_quarantine = bool(found and str(found[0].get("displayName", "")).lower() == "quarantine")
        if in_quarantine and (not mailbox or upn == mailbox) and upn != other_than:
            return upn, internet_id, subject
    raise AssertionError(f"nothing quarantined for {mailbox or 'anyone but ' + other_than}: {console.held}")


def _row_with(b: ConsoleBrowser, *texts: str) -> WebElement:
    """The list's row showing every one of ``texts`` (a subject alone may be several people's)."""
    for row in b.driver.find_elements(By.CSS_SELECTOR, "main table tbody tr"):
        if all(text in row.text for text in texts):
            return row
    raise AssertionError(f"no row shows {texts!r}: {_main(b).text[:2000]}")


def _in_inbox(console: ConsoleStack, upn: str, internet_id: str) -> bool:
    found = find_message(console.stack, upn, internet_id)
    return bool(found and str(found[0].get("displayName", "")).lower() == "inbox")


def _press(within: WebElement, label: str) -> None:
    for button in within.find_elements(By.CSS_SELECTOR, "button, input[type=submit]"):
        if (button.text or button.get_attribute("value") or "").strip().lower().startswith(label.lower()):
            button.click()
            return
    raise AssertionError(f"no {label!r} button in: {within.text[:2000]}")


def test_release_a_held_message_and_it_is_back_in_the_inbox(
    console_stack: ConsoleStack, clean_console: ConsoleBrowser  # noqa: F811
) -> None:
    b = clean_console
    upn, internet_id, subject = _quarantined(console_stack, other_than=console_stack.admin)
    assert not _in_inbox(console_stack, upn, internet_id)
    b.open(console_stack.page("/held"))
    _row_with(b, subject, upn).find_element(By.LINK_TEXT, subject).click()  # the message's own page
    _press(_main(b), "Release")
    _accept_confirm(b)
    notice = wait_for(lambda: b.driver.find_elements(By.CSS_SELECTOR, "main .notice"), 60, "the notice")
    assert "released" in notice[0].text.lower()
    wait_for(lambda: _in_inbox(console_stack, upn, internet_id), 60, "the message back in the Inbox")
    b.screenshot("action-released")


def _digest_links(console: ConsoleStack, upn: str) -> list[str]:
    """The "request release" links of the digests the person received."""
    links: list[str] = []
    for folder in console.stack.sim.mailbox(upn)["folders"]:
        for message in folder["messages"]:
            content = json.dumps(message).replace('\\"', '"')  # the body is a string or {content}
            links += [html.unescape(u) for u in re.findall(r'href="([^"]*/api/console/request\?t=[^"]+)"', content)]
    return links


def test_approve_a_release_request_made_from_the_digest_link(
    console_stack: ConsoleStack, clean_console: ConsoleBrowser  # noqa: F811
) -> None:
    from connectors.service.digests import send_digests
    from connectors.service.runtime import Runtime

    b = clean_console
    # The signed-in person asks for their own mail.
    upn, internet_id, subject = _quarantined(console_stack, mailbox=console_stack.admin)
    asyncio.run(send_digests(Runtime.create()))
    links = wait_for(lambda: _digest_links(console_stack, upn), 60, "the digest in the person's mailbox")
    for link in links:  # the digest lists each held message with its own link
        b.open(link)
        if subject in _main(b).text:
            break
    else:
        raise AssertionError(f"no link of the digest is for {subject!r}")
    b.driver.find_element(By.CSS_SELECTOR, "main form[method=post] button[type=submit]").click()
    _accept_confirm(b)
    b.screenshot("action-requested")
    assert "pending" in b.driver.find_element(By.ID, "request-state").text.lower(), _main(b).text[:1000]
    b.open(console_stack.page("/requests"))
    _press(_row_with(b, subject, upn), "Approve")
    _accept_confirm(b)
    wait_for(lambda: _in_inbox(console_stack, upn, internet_id), 60, "the approved message in the Inbox")
    b.screenshot("action-approved")


def test_policy_edit_shows_a_validation_error_at_the_field(
    console_stack: ConsoleStack, clean_console: ConsoleBrowser  # noqa: F811
) -> None:
    b = clean_console
    b.open(console_stack.page("/policy"))
    form = b.driver.find_element(By.CSS_SELECTOR, "main form[method=post]")
    field = form.find_element(By.CSS_SELECTOR, "textarea, input:not([type=hidden])")
    name = field.get_attribute("name")
    field.clear()
    field.send_keys("mode = 12\n[[[ not a policy")  # a value of the wrong type, then broken syntax
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def invalid_field() -> WebElement | None:  # the answer's page, once it has replaced this one
        try:
            found = b.driver.find_element(By.CSS_SELECTOR, f"main [name='{name}']")
            return found if found.get_attribute("aria-invalid") == "true" else None
        except (NoSuchElementException, StaleElementReferenceException):
            return None

    field = wait_for(invalid_field, 30, "the field marked invalid")
    # The form comes back as 422 Unprocessable Content, which Chromium logs; that one is expected.
    logged = b.console_errors()
    assert logged and all("/api/console/policy/review" in e and "422" in e for e in logged), logged
    described = (field.get_attribute("aria-describedby") or "").split()
    assert described, "the error is not tied to the field"
    try:
        message = " ".join(b.driver.find_element(By.ID, d).text for d in described)
    except NoSuchElementException as exc:
        raise AssertionError("aria-describedby names no element") from exc
    assert message.strip()
    b.screenshot("action-policy-invalid")


def test_the_console_declares_an_icon_it_serves(console_stack: ConsoleStack, clean_console: ConsoleBrowser) -> None:  # noqa: F811
    b = clean_console
    b.open(console_stack.page(""))
    icons = b.driver.find_elements(By.CSS_SELECTOR, "link[rel~=icon]")
    assert icons, "no <link rel=icon>"
    href = str(icons[0].get_attribute("href"))
    assert requests.get(href, timeout=30).status_code == 200, href
