"""Fixtures for the simulator's own tests: one HTTPS simulator per session, reset per test."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from m365sim.testing import SimHandle, m365sim, m365sim_server, receiver  # noqa: F401

ADELE = "adele.vance@contoso.test"
ALEX = "alex.wilber@contoso.test"
BOB = "bob.smith@fabrikam.test"
ADVANCED_APP = 0  # TAP365 Protection: Mail.ReadWrite + Mail-Advanced.ReadWrite + ...
LEGACY_APP = 1  # Legacy Mail Connector: Mail.ReadWrite + User.Read.All only
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def sample_mail(
    subject: str = "Quarterly invoice",
    to: str = ADELE,
    html: str = '<html><body><p>Pay <a href="https://evil.test/pay">here</a></p></body></html>',
    attach_pdf: bool = True,
    attach_eml: bool = False,
    inline_image: bool = False,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Eve Attacker <eve@evil.test>"
    msg["To"] = to
    msg["Cc"] = "Alex Wilber <alex.wilber@contoso.test>"
    msg["Reply-To"] = "billing@evil.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = make_msgid(domain="evil.test")
    msg["Authentication-Results"] = "spf=fail smtp.mailfrom=evil.test"
    msg.set_content("Pay here: https://evil.test/pay")
    msg.add_alternative(html, subtype="html")
    if inline_image:
        html_part = msg.get_body(("html",))
        assert html_part is not None
        html_part.add_related(
            b"\x89PNG\r\n\x1a\nfake", maintype="image", subtype="png", cid="<logo@evil.test>"
        )
    if attach_pdf:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    if attach_eml:
        inner = EmailMessage()
        inner["From"] = "ceo@contoso.test"
        inner["Subject"] = "Forwarded original"
        inner.set_content("inner body")
        msg.add_attachment(inner)
    return msg.as_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def sim(m365sim: SimHandle) -> SimHandle:  # noqa: F811 - re-exported fixture
    return m365sim


@pytest.fixture
def token(sim: SimHandle) -> str:
    """TAP app token in Contoso (holds Mail-Advanced.ReadWrite)."""
    return sim.token()


@pytest.fixture
def legacy_token(sim: SimHandle) -> str:
    """Token of an app with Mail.ReadWrite but without Mail-Advanced.ReadWrite."""
    return sim.token(app=LEGACY_APP)
