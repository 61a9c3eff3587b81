"""More links than ``url.max_urls_per_message``: the most suspicious are analysed first, and the
limit itself holds the message with the count in its reason."""

from __future__ import annotations

import pytest

from tap_core.model.decision import Action
from tap_core.model.findings import Verdict
from tap_core.parsing.mime import parse_eml
from tap_core.pipeline import Pipeline
from tap_core.urls.extract import extract_html
from tap_core.urls.policy import UrlPolicy
from tap_core.urls.ranking import analysis_order
from tap_core.urls.rules import assess_url

PHISH = "https://paypal.com-account-verify.top/signin"


def _html(benign: list[str], last: str) -> str:
    links = "".join(f'<a href="{u}">item</a> ' for u in [*benign, last])
    return f"<html><body><p>Today's items</p>{links}</body></html>"


def _mail(html: str) -> bytes:
    return ("From: News <news@example.com>\r\nTo: ann@contoso.test\r\nSubject: digest\r\n"
            "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n").encode()


@pytest.mark.parametrize("benign", [
    [f"https://news.example.com/item/{i}" for i in range(1500)],  # the sender's own site
    [f"https://site{i}.example.org/page" for i in range(1500)],  # 1,500 other hosts
], ids=["one host", "many hosts"])
def test_the_flagged_link_last_of_1500_is_within_the_links_analysed(benign: list[str]) -> None:
    found = extract_html(_html(benign, PHISH), "body.html")
    limit = UrlPolicy().max_urls_per_message
    ordered = analysis_order(found, limit, own_domains=["example.com", "contoso.test"])
    analysed = list(dict.fromkeys(f.url for f in ordered))[:limit]
    assert PHISH in analysed
    assert assess_url(PHISH).verdict is not Verdict.CLEAN  # the URL rules flag it once analysed
    # Under the limit the order is the order of appearance: nothing changes for ordinary mail.
    few = extract_html(_html(benign[:10], PHISH), "body.html")
    assert analysis_order(few, limit) == few


def test_more_links_than_the_limit_hold_the_message_with_the_count() -> None:
    html = _html([f"https://news.example.com/item/{i}" for i in range(1500)], PHISH)
    decision = Pipeline().run(parse_eml(_mail(html)))
    assert decision.action is Action.HOLD and decision.verdict is not Verdict.CLEAN
    assert any(r.startswith("url_limit: More than 1000 distinct URLs") for r in decision.reasons)
    ordinary = Pipeline().run(parse_eml(_mail(_html([f"https://news.example.com/item/{i}" for i in range(20)],
                                                    "https://news.example.com/"))))
    assert not any(r.startswith("url_limit") for r in ordinary.reasons)


def test_the_pipeline_analyses_the_flagged_link_last_of_1500() -> None:
    html = _html([f"https://news.example.com/item/{i}" for i in range(1500)], PHISH)
    decision = Pipeline().run(parse_eml(_mail(html)))
    assert any(u.url == PHISH and u.verdict is not Verdict.CLEAN for u in decision.urls)
