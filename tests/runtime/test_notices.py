"""The service's own notices are known again only by a header bound to their tenant, recipients,
subject and day, and only from the notifier's address."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from connectors.service.notices import NOTICE_HEADER, is_own_notice, notice_header
from tap_core.model.message import Address, Message
from tap_core.urls.links import LinkKeyring

KEYS = LinkKeyring({"k1": b"k" * 32, "k2": b"z" * 32}, "k1")
NOTIFIER = "tap365@contoso.test"
DAY = date(2026, 12, 8)
NOW = datetime(2026, 12, 9, 10, tzinfo=UTC)


def notice(header: str | None, *, sender: str = NOTIFIER, to: str = "adele@contoso.test",
           subject: str = "TAP365: 2 message(s) for you held in the last day") -> Message:
    return Message(
        source="t", subject=subject, from_address=Address(name="TAP365", address=sender),
        to=[Address(name="", address=to)], headers=[(NOTICE_HEADER, header)] if header else [],
    )


def good() -> str:
    return notice_header(KEYS, "tenant-a", ["Adele@contoso.test"], "TAP365: 2 message(s) for you held in the last day",
                         today=DAY)


def test_a_notice_is_known_by_its_header_from_the_notifier() -> None:
    assert is_own_notice(KEYS, "tenant-a", notice(good()), NOTIFIER.upper(), now=NOW)


@pytest.mark.parametrize("changed", [
    {"subject": "Verify your account now"},
    {"to": "alex@contoso.test"},
    {"sender": "mallory@contoso.test"},
])
def test_a_copied_header_verifies_for_nothing_else(changed: dict[str, str]) -> None:
    assert not is_own_notice(KEYS, "tenant-a", notice(good(), **changed), NOTIFIER, now=NOW)


def test_another_tenant_or_no_notifier_is_not_ours() -> None:
    assert not is_own_notice(KEYS, "tenant-b", notice(good()), NOTIFIER, now=NOW)
    assert not is_own_notice(KEYS, "tenant-a", notice(good()), "", now=NOW)
    assert not is_own_notice(KEYS, "tenant-a", notice(None), NOTIFIER, now=NOW)


@pytest.mark.parametrize("now", [datetime(2026, 12, 12, 1, tzinfo=UTC), datetime(2026, 12, 7, 23, tzinfo=UTC)])
def test_the_header_verifies_for_three_days_and_never_before_its_day(now: datetime) -> None:
    assert is_own_notice(KEYS, "tenant-a", notice(good()), NOTIFIER, now=datetime(2026, 12, 11, 23, tzinfo=UTC))
    assert not is_own_notice(KEYS, "tenant-a", notice(good()), NOTIFIER, now=now)


@pytest.mark.parametrize("value", [
    "k1", "k1.2026-12-08", "k1.not-a-day.abc", "k9.2026-12-08.abc", "k1.2026-12-08.!!!", "k1.2026-12-08." + "A" * 43,
])
def test_a_malformed_or_forged_header_is_not_ours(value: str) -> None:
    assert not is_own_notice(KEYS, "tenant-a", notice(value), NOTIFIER, now=NOW)


def test_a_notice_signed_with_an_older_key_still_verifies() -> None:
    older = LinkKeyring({"k1": b"k" * 32, "k2": b"z" * 32}, "k2")
    header = notice_header(older, "tenant-a", ["adele@contoso.test"], "TAP365: 2 message(s) for you held in the last day",
                           today=DAY)
    assert header.startswith("k2.")
    assert is_own_notice(KEYS, "tenant-a", notice(header), NOTIFIER, now=NOW)
