from __future__ import annotations

import time

import pytest

from tap_core.attachments.context import ScanContext
from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.hashsets import HashSet
from tap_core.attachments.model import ScanLimits
from tap_core.attachments.report import scan_file
from tap_core.attachments.scanners import default_scanners
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.yara_rules import YaraRuleError, compile_rules
from tap_core.detect.scoring import Thresholds
from tap_core.model.findings import Verdict
from tests.attachments.builders import EICAR, make_zip, minimal_pe

EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


class _Exploding(Scanner):
    name = "exploding"

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        raise RuntimeError("boom")


class _Slow(Scanner):
    name = "slow"

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        for _ in range(100):
            time.sleep(0.02)
            ctx.check_time()


def test_scanner_exception_becomes_a_finding() -> None:
    engine = AttachmentEngine(scanners=[_Exploding(), *default_scanners()], cache_size=0)
    result = engine.scan("a.zip", make_zip({"eicar.com": EICAR}))
    errors = [f for f in result.findings if f.name == "scanner_error"]
    assert errors and errors[0].evidence.startswith("exploding")
    assert any("boom" in e for e in result.errors)
    # the other scanners still ran, children too
    assert result.verdict is Verdict.MALICIOUS


def test_wall_time_limit() -> None:
    engine = AttachmentEngine(ScanLimits(max_seconds=0.2), scanners=[_Slow()], cache_size=0)
    started = time.monotonic()
    result = engine.scan("x.bin", b"data")
    assert time.monotonic() - started < 1.5
    assert "limit_time" in result.reasons


def test_thresholds_are_configurable() -> None:
    strict = AttachmentEngine(thresholds=Thresholds(suspicious=1, malicious=3), cache_size=0)
    assert strict.scan("setup.exe", minimal_pe()).verdict is Verdict.MALICIOUS
    assert AttachmentEngine(cache_size=0).scan("setup.exe", minimal_pe()).verdict is Verdict.SUSPICIOUS


def test_cache_reuses_content_but_rechecks_the_name() -> None:
    engine = AttachmentEngine()
    data = minimal_pe()
    first = engine.scan("tool.exe", data)
    second = engine.scan("invoice.pdf.exe", data)
    assert "double_extension" not in first.reasons
    assert "double_extension" in second.reasons
    assert second.name == "invoice.pdf.exe"
    assert engine.scan("tool.exe", data).reasons == first.reasons


def test_cache_separates_password_dependent_results() -> None:
    engine = AttachmentEngine()
    data = make_zip({"eicar.com": EICAR}, password="k3y!")
    assert engine.scan("a.zip", data).verdict is not Verdict.MALICIOUS
    assert engine.scan("a.zip", data, passwords=["k3y!"]).verdict is Verdict.MALICIOUS


def test_plain_hash_list_hit_is_malicious() -> None:
    hashes = HashSet.from_bytes(f"# feed\n{EICAR_SHA256} EICAR-Test\nnot-a-hash\n".encode(), source="local")
    assert len(hashes) == 1
    engine = AttachmentEngine(hash_sets=[hashes], cache_size=0)
    result = engine.scan("a.zip", make_zip({"x.txt": EICAR}))
    hit = next(f for f in result.children[0].findings if f.name == "known_malware_hash")
    assert hit.verdict is Verdict.MALICIOUS and "EICAR-Test" in hit.reason


def test_malwarebazaar_csv() -> None:
    csv = (
        "################################################################\n"
        "# MalwareBazaar full data dump (CSV)                           #\n"
        '# "first_seen_utc","sha256_hash","md5_hash","sha1_hash","reporter","file_name","file_type_guess",'
        '"mime_type","signature","clamav","vtpercent","imphash","ssdeep","tlsh"\n'
        '"2024-01-01 00:00:00", "' + "a" * 64 + '", "' + "b" * 32 + '", "' + "c" * 40 + '", "x", "f.exe", '
        '"exe", "application/x-dosexec", "AgentTesla", "n/a", "n/a", "n/a", "n/a", "n/a"\n'
        '"2024-01-02 00:00:00", "' + "d" * 64 + '", "' + "e" * 32 + '", "' + "f" * 40 + '", "x", "g.doc", '
        '"doc", "application/msword", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"\n'
    ).encode()
    hashes = HashSet.from_bytes(csv, source="MalwareBazaar")
    assert len(hashes) == 6
    assert hashes.lookup("B" * 32) == ("b" * 32, "AgentTesla")
    assert hashes.lookup("f" * 40) == ("f" * 40, "")


def test_admin_yara_rules() -> None:
    rules = compile_rules(
        {"corp": 'rule corp_marker : malware { meta: score = 1 strings: $a = "CORP-MARK-42" condition: $a }'}
    )
    engine = AttachmentEngine(scanners=default_scanners(yara_rules=rules), cache_size=0)
    result = engine.scan("a.txt", b"hello CORP-MARK-42")
    assert "yara_corp_marker" in result.reasons
    assert result.verdict is Verdict.MALICIOUS


def test_admin_yara_compile_error_names_the_file() -> None:
    with pytest.raises(YaraRuleError, match=r"broken\.yar"):
        compile_rules({"broken.yar": "rule x { condition: nonsense_identifier }"})


def test_scan_file_json_shape(engine: AttachmentEngine) -> None:
    report = scan_file("a.zip", make_zip({"b.zip": make_zip({"eicar.com": EICAR})}), engine)
    assert set(report) >= {"source", "type", "sha256", "verdict", "reasons", "children"}
    assert report["verdict"] == "malicious"
    leaf = report["children"][0]["children"][0]
    assert leaf["source"] == "eicar.com" and leaf["sha256"] == EICAR_SHA256
    assert "yara_eicar_test_file" in leaf["reasons"]
