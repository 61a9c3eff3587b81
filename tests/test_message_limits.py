"""Message parse limits (the policy's ``limits``) and the policy's own bounds: a message that
reaches a limit is held with the reason, and the parser's work stops at the limit."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tap_core.attachments import AttachmentEngine
from tap_core.model.decision import Action
from tap_core.model.findings import Verdict
from tap_core.parsing.mime import MimeLimits, parse_eml
from tap_core.pipeline import Pipeline
from tap_core.policy import MAX_POLICY_BYTES, PolicyError, parse_policy

ROOT = Path(__file__).resolve().parent.parent
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!H+H*"
HEAD = b"From: Sender <a@example.com>\r\nTo: b@contoso.test\r\n"


def _nested(levels: int) -> bytes:
    inner = b"Content-Type: text/plain\r\n\r\nleaf\r\n"
    for i in range(levels):
        b = f"b{i}".encode()
        inner = (b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n--' + b + b"\r\n"
                 + inner + b"\r\n--" + b + b"--\r\n")
    return inner


def _eicar_beside(levels: int) -> bytes:
    att = (b'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="eicar.com"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(EICAR) + b"\r\n")
    body = b"".join(b"--TOP\r\n" + p + b"\r\n" for p in (_nested(levels), att)) + b"--TOP--\r\n"
    return HEAD + b'Subject: nest\r\nContent-Type: multipart/mixed; boundary="TOP"\r\n\r\n' + body


def _siblings(n: int) -> bytes:
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\np\r\n" for _ in range(n))
    return HEAD + b'Subject: many\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n' + parts + b"--B--\r\n"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(attachment_engine=AttachmentEngine())


def _limit_names(decision) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.split(":", 1)[0] for r in decision.reasons if r.startswith(("limit_", "mime_"))]


def test_a_deeply_nested_message_is_held_and_the_attachment_beside_it_still_analysed(pipeline: Pipeline) -> None:
    # 1,000 levels ran the parser out of stack: the text alone was scanned, the file never seen.
    message = parse_eml(_eicar_beside(1000), "deep")
    assert [a.name for a in message.attachments] == ["eicar.com"]
    decision = pipeline.run(message)
    assert decision.action is Action.HOLD and decision.verdict is not Verdict.CLEAN
    assert _limit_names(decision) == ["limit_mime_depth"]
    assert "24 levels" in decision.reasons[0]
    assert [a["source"] for a in decision.attachments] == ["eicar.com"]
    # Within the limit nothing is reported.
    shallow = pipeline.run(parse_eml(_eicar_beside(10), "shallow"))
    assert _limit_names(shallow) == [] and [a["source"] for a in shallow.attachments] == ["eicar.com"]


def test_the_depth_limit_is_the_policys(pipeline: Pipeline) -> None:
    policy = parse_policy("limits: {max_depth: 4}")
    message = parse_eml(_eicar_beside(6), "deep", policy.limits)
    assert Pipeline(policy).run(message).action is Action.HOLD
    assert [h.name for h in message.limits_reached] == ["limit_mime_depth"]


def test_parts_beyond_the_part_limit_are_not_parsed_and_the_message_is_held(pipeline: Pipeline) -> None:
    message = parse_eml(_siblings(100_000), "many")
    assert [(h.name, h.limit) for h in message.limits_reached] == [("limit_mime_parts", 1000)]
    assert (message.text_body or "").count("p") < 1000  # parsing stopped there
    decision = pipeline.run(message)
    assert decision.action is Action.HOLD and _limit_names(decision) == ["limit_mime_parts"]
    assert "More than 1000 MIME parts" in decision.reasons[0]
    assert parse_eml(_siblings(50), "few").limits_reached == []


def test_header_lines_bytes_and_encoded_words_are_bounded(pipeline: Pipeline) -> None:
    lines = HEAD + b"Subject: h\r\n" + b"X-H: v\r\n" * 200_000 + b"\r\nbody\r\n"
    message = parse_eml(lines, "lines")
    assert [h.name for h in message.limits_reached] == ["limit_header_lines"]
    assert len(message.headers) <= 5000
    assert _limit_names(pipeline.run(message)) == ["limit_header_lines"]

    big = HEAD + b"Subject: h\r\nX-Big: " + b"a" * 400_000 + b"\r\n\r\nbody\r\n"
    assert [h.name for h in parse_eml(big, "bytes").limits_reached] == ["limit_header_bytes"]

    words = HEAD + b"Subject: " + b" ".join(b"=?utf-8?q?a?=" for _ in range(5000)) + b"\r\n\r\nbody\r\n"
    message = parse_eml(words, "words")
    assert [h.name for h in message.limits_reached] == ["limit_encoded_words"]
    assert message.subject.strip() == "a" * 1000  # the first thousand words, decoded
    decision = pipeline.run(message)
    assert decision.action is Action.HOLD and "Subject header holds more than 1000" in decision.reasons[0]

    few = parse_eml(HEAD + b"Subject: =?utf-8?q?caf=C3=A9?= =?utf-8?q?_ok?=\r\n\r\nbody\r\n")
    assert few.subject == "café ok" and few.limits_reached == []


def test_limits_are_typed_and_bounded_in_the_policy() -> None:
    assert parse_policy("{}").limits == MimeLimits()
    for bad in ("limits: {max_parts: 0}", "limits: {max_depth: -1}", "limits: {max_parts_typo: 3}"):
        with pytest.raises(PolicyError, match="limits"):
            parse_policy(bad)


def test_tap365_scan_holds_the_nested_message(tmp_path: Path) -> None:
    path = tmp_path / "deep.eml"
    path.write_bytes(_eicar_beside(1000))
    result = subprocess.run([sys.executable, "-m", "connectors.cli", "scan", str(path), "--json"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "TAP365_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode in (0, 1, 2), result.stderr
    record = json.loads(result.stdout)
    assert record["action"] == "hold" and record["reasons"][0].startswith("limit_mime_depth")
    assert [a["source"] for a in record["attachments"]] == ["eicar.com"]


# -- the policy's own bounds ----------------------------------------------------------------------
@pytest.mark.parametrize("document", [
    "url: {thresholds: {suspicious: -1, malicious: 3}}",
    "attachments: {thresholds: {suspicious: 0}}",
    "thresholds: {suspicious: .nan, malicious: 3}",
    "thresholds: {suspicious: 1, malicious: 1.0e+300}",
    "thresholds: {suspicious: -2000, malicious: 1}",
    "url: {thresholds: {suspicious: 9, malicious: 3}}",
])
def test_thresholds_out_of_range_or_order_are_refused(document: str) -> None:
    with pytest.raises(PolicyError, match="thresholds"):
        parse_policy(document)


def test_negative_message_thresholds_are_log_odds_and_allowed() -> None:
    policy = parse_policy("thresholds: {suspicious: -0.5, hold: 1, malicious: 2}")
    assert policy.thresholds is not None and policy.thresholds.suspicious == -0.5


def test_an_oversized_or_absurdly_nested_policy_is_a_policy_error() -> None:
    huge = json.dumps({"internal_domains": [f"d{i}.example" for i in range(100_000)]})
    assert len(huge) > MAX_POLICY_BYTES
    with pytest.raises(PolicyError, match="at most"):
        parse_policy(huge)
    with pytest.raises(PolicyError, match="at most"):
        parse_policy(huge.encode())
    with pytest.raises(PolicyError, match="nested too deeply"):
        parse_policy("{\"vips\": " + "[" * 50_000 + "]" * 50_000 + "}")
    with pytest.raises(PolicyError, match="UTF-8"):
        parse_policy(b"\xff\xfe")


def test_a_message_attached_as_a_file_that_reaches_a_parse_limit_holds_its_file(pipeline: Pipeline) -> None:
    # The .eml scanner parses the attached message with the same limits: beyond them nothing was
    # analysed, so the file's limit holds the message, as a limit of the message itself does.
    attached = HEAD + b"Subject: inner\r\nMIME-Version: 1.0\r\n" + _nested(100)
    eml = (b'--TOP\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--TOP\r\nContent-Type: application/octet-stream'
           b'\r\nContent-Disposition: attachment; filename="fwd.eml"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
           + base64.b64encode(attached) + b"\r\n--TOP--\r\n")
    raw = HEAD + b'Subject: fwd\r\nContent-Type: multipart/mixed; boundary="TOP"\r\n\r\n' + eml
    decision = pipeline.run(parse_eml(raw, "fwd"))
    assert decision.action is Action.HOLD
    assert any("fwd.eml: scan limit reached (limit_message_parse)" in r for r in decision.reasons)
    shallow = raw.replace(base64.b64encode(attached),
                          base64.b64encode(HEAD + b"Subject: inner\r\nMIME-Version: 1.0\r\n" + _nested(3)))
    assert not any("limit_message_parse" in r for r in pipeline.run(parse_eml(shallow, "fwd")).reasons)
