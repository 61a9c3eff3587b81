"""Hostile input never raises: seeded mutation and type-confusion runs over the parsers and the
pipeline (the same runs that found the crashes fixed in feeds, notifications and Graph messages).

Deterministic (fixed seeds), a few hundred inputs each; a failure names the seed and case.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import random
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.attachment_engine import build_attachment_engine
from connectors.graph.notifications import NotificationError, parse_notifications
from connectors.settings import Settings
from tap_core.parsing.graph_message import message_from_graph
from tap_core.parsing.mime import parse_eml
from tap_core.pipeline import Pipeline
from tap_core.policy import PolicyError, parse_policy
from tap_core.urls.feeds import FeedFormat, parse_feed
from tap_core.urls.intel import IntelIndex

WEIRD: list[Any] = [None, 0, -1, 1.5, True, "", "x", [], {}, [None], {"a": None}, "\x00", "[::1", "*",
                    "9999-99-99T99:99:99Z", "a" * 300]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("invoice.html", "<form action='https://x.example/p'><input type=password></form>")
    return buffer.getvalue()


SEED_MESSAGE = (
    b"From: \"PayPal\" <service@paypa1.example>\r\nTo: user@contoso.example\r\n"
    b"Subject: =?utf-8?b?QWNjb3VudCBzdXNwZW5kZWQ=?=\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n"
    b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"<p>Verify <a href=3D\"http://paypal.com.verify.example/login?u=3Dx\">now</a> hxxp://bad[.]example/a"
    b"</p>\r\n--b1\r\nContent-Type: application/zip; name=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(_zip())
    + b"--b1--\r\n"
)
TOKENS = [b"\r\n", b"--b1", b"=?utf-8?b?", b"<a href=", b"http://", b"\x00", b"=\r\n", b"%", b"&#", b"<", b"\""]


def _mutations(data: bytes, seed: int, count: int) -> Iterator[bytes]:
    rnd = random.Random(seed)  # noqa: S311 - reproducible junk, not security
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 10)):
            pos = rnd.randrange(len(b) + 1)
            op = rnd.random()
            if op < 0.3 and b:
                del b[pos : pos + rnd.randint(1, 64)]
            elif op < 0.6:
                b[pos:pos] = rnd.choice(TOKENS) * rnd.randint(1, 20)
            elif b:
                b[rnd.randrange(len(b))] = rnd.randrange(256)
        yield bytes(b)


def _confused(base: dict[str, Any], seed: int, count: int) -> Iterator[dict[str, Any]]:
    """``base`` with one to three values anywhere in it replaced by values of the wrong type."""

    def paths(o: Any, pre: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        if pre:
            yield pre
        items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()
        for k, v in items:
            yield from paths(v, (*pre, k))

    rnd = random.Random(seed)  # noqa: S311 - reproducible junk, not security
    every = list(paths(base))
    for _ in range(count):
        doc = copy.deepcopy(base)
        for _ in range(rnd.randint(1, 3)):
            path = rnd.choice(every)
            node: Any = doc
            try:
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = copy.deepcopy(rnd.choice(WEIRD))
            except (KeyError, IndexError, TypeError):
                continue
        yield doc


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_mail_gets_a_decision(seed: int) -> None:
    pipeline = Pipeline(attachment_engine=build_attachment_engine(Settings()))
    for i, data in enumerate(_mutations(SEED_MESSAGE, seed, 150)):
        decision = pipeline.run(parse_eml(data, f"seed {seed} case {i}"), tenant_id="t")
        assert decision.verdict is not None


def test_graph_messages_of_the_wrong_shape_become_messages() -> None:
    base = {
        "id": "m", "subject": "s", "body": {"contentType": "html", "content": "<a href='http://x.example/'>x</a>"},
        "from": {"emailAddress": {"name": "n", "address": "a@b.example"}},
        "replyTo": [{"emailAddress": {"address": "r@c.example"}}],
        "internetMessageHeaders": [{"name": "From", "value": "n <a@b.example>"}],
        "receivedDateTime": "2026-01-01T00:00:00Z",
        "attachments": [
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": "aGk="},
            {"@odata.type": "#microsoft.graph.itemAttachment", "name": "m", "item": {"subject": "i"}},
        ],
    }
    pipeline = Pipeline()
    for i, doc in enumerate(_confused(base, 3, 400)):
        pipeline.run(message_from_graph(doc, f"case {i}"), tenant_id="t")


def test_feeds_of_the_wrong_shape_load_with_errors_counted() -> None:
    stix = {"type": "bundle", "objects": [{
        "type": "indicator", "pattern_type": "stix", "labels": ["phishing"],
        "pattern": "[url:value = 'http://evil.example/x'] OR [domain-name:value = 'bad.example']",
        "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z",
    }]}
    for doc in _confused(stix, 4, 300):
        IntelIndex.from_feeds([parse_feed(json.dumps(doc).encode(), name="s.json", format="stix2")])
    lines = [b"http://evil.example/a", b"evil.example", b"10.0.0.0/8", b"0.0.0.0 bad.example", b"\xff\xfe",
             b'"1","http://x.example/","2024-01-01"', b"a\rb,c", b"*.x.example", b"https://@/", b"\x00"]
    rnd = random.Random(5)  # noqa: S311 - reproducible junk, not security
    for fmt in FeedFormat:
        for _ in range(60):
            data = b"\n".join(rnd.choice(lines) for _ in range(rnd.randint(1, 20)))
            IntelIndex.from_feeds([parse_feed(data, name="f.txt", format=fmt)]).match("http://evil.example/a")


def test_policies_and_notifications_of_the_wrong_shape_are_refused_by_name() -> None:
    policy = {"url": {"do_not_rewrite": ["contoso.com"]}, "vips": [{"name": "J", "email": "j@c.example"}],
              "attachments": {"limits": {"max_depth": 3}}, "branding": {"name": "C"}}
    for doc in _confused(policy, 6, 300):
        try:
            parse_policy(doc)
        except PolicyError:
            pass
    body = {"value": [{"subscriptionId": "s", "tenantId": "t", "clientState": "c", "changeType": "created",
                       "resource": "Users('u')/Messages('m')", "resourceData": {"id": "m"}}],
            "validationTokens": ["x"]}
    for doc in _confused(body, 7, 300):
        try:
            parse_notifications(json.dumps(doc).encode())
        except NotificationError:
            pass
