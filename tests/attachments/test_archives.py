from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile

from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.model import FileResult, ScanLimits
from tap_core.model.findings import Verdict
from tests.attachments.builders import EICAR, make_7z, make_zip, make_zipcrypto


def _names(result: FileResult) -> set[str]:
    return {f.name for f in result.all_findings()}


def test_eicar_in_zip_in_zip_is_malicious(engine: AttachmentEngine) -> None:
    inner = make_zip({"eicar.com": EICAR})
    outer = make_zip({"docs/inner.zip": inner})
    result = engine.scan("outer.zip", outer)
    assert result.verdict is Verdict.MALICIOUS
    eicar = result.children[0].children[0]
    assert eicar.name == "eicar.com"
    assert "yara_eicar_test_file" in eicar.reasons
    assert eicar.sha256 == "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


def test_seven_zip_in_memory(engine: AttachmentEngine) -> None:
    result = engine.scan("files.7z", make_7z({"readme.txt": b"hello", "run.js": b"var x = 1;\n"}))
    assert sorted(c.name for c in result.children) == ["readme.txt", "run.js"]
    assert "dangerous_extension" in _names(result)


def test_encrypted_seven_zip_with_and_without_password(engine: AttachmentEngine) -> None:
    data = make_7z({"eicar.txt": EICAR}, password="S3cret!")
    closed = engine.scan("a.7z", data)
    assert "encrypted_archive" in closed.reasons
    opened = engine.scan("a.7z", data, passwords=["wrong", "S3cret!"])
    assert "decrypted_with_password" in opened.reasons
    assert opened.verdict is Verdict.MALICIOUS
    hidden_names = engine.scan("b.7z", make_7z({"x.txt": b"x"}, password="pw12", encrypt_names=True))
    assert "encrypted_archive" in hidden_names.reasons


def test_aes_zip_opened_with_candidate_password(engine: AttachmentEngine) -> None:
    data = make_zip({"invoice.js": b'var s = new ActiveXObject("WScript.Shell");\n'}, password="Inv-2024")
    closed = engine.scan("invoice.zip", data)
    assert "encrypted_archive" in closed.reasons
    assert "dangerous_member_name" in closed.reasons
    assert closed.children == []
    opened = engine.scan("invoice.zip", data, passwords=["Inv-2024"])
    assert [c.name for c in opened.children] == ["invoice.js"]
    assert opened.children[0].type == "js"
    assert opened.children[0].decrypted


def test_zipcrypto_zip(engine: AttachmentEngine) -> None:
    data = make_zipcrypto("a.txt", b"secret text", "pw")
    assert engine.scan("a.zip", data, passwords=["nope", "pw"]).children[0].name == "a.txt"


def test_zip_bomb_stops_at_ratio_limit(engine: AttachmentEngine) -> None:
    bomb = make_zip({"zeros.bin": b"\0" * (50 * 1024 * 1024)})
    assert len(bomb) < 200_000
    result = engine.scan("bomb.zip", bomb)
    assert "limit_ratio" in result.reasons
    assert result.children == []


def test_gzip_bomb_stops_at_ratio_limit(engine: AttachmentEngine) -> None:
    result = engine.scan("x.gz", gzip.compress(b"\0" * (30 * 1024 * 1024)))
    assert "limit_ratio" in result.reasons


def test_deep_nesting_stops_at_depth_limit() -> None:
    engine = AttachmentEngine(ScanLimits(max_depth=3), cache_size=0)
    data = EICAR
    for level in range(6):
        data = make_zip({f"level{level}.zip" if level else "eicar.com": data})
    result = engine.scan("deep.zip", data)
    assert "limit_depth" in _names(result)
    depth = 0
    node = result
    while node.children:
        node = node.children[0]
        depth += 1
    assert depth == 3


def test_file_count_limit_is_configurable() -> None:
    engine = AttachmentEngine(ScanLimits(max_files=4), cache_size=0)
    result = engine.scan("many.zip", make_zip({f"f{i}.txt": b"x" for i in range(10)}))
    assert len(result.children) == 3
    assert "limit_files" in result.reasons


def test_total_bytes_limit() -> None:
    engine = AttachmentEngine(ScanLimits(max_total_bytes=1000), cache_size=0)
    result = engine.scan(
        "big.zip", make_zip({"a.bin": bytes(range(256)) * 3, "b.bin": bytes(range(256)) * 3})
    )
    assert len(result.children) == 1
    assert "limit_total_bytes" in result.reasons


def test_tar_gz_bz2_xz_chain(engine: AttachmentEngine) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("payload/eicar.txt")
        info.size = len(EICAR)
        archive.addfile(info, io.BytesIO(EICAR))
    tar = buffer.getvalue()
    for name, data in [
        ("a.tar.gz", gzip.compress(tar)),
        ("a.tar.bz2", bz2.compress(tar)),
        ("a.tar.xz", lzma.compress(tar)),
    ]:
        result = engine.scan(name, data)
        assert result.children[0].type == "tar", name
        assert result.children[0].children[0].name == "payload/eicar.txt"
        assert result.verdict is Verdict.MALICIOUS


def test_corrupt_zip_is_unparseable(engine: AttachmentEngine) -> None:
    result = engine.scan("broken.zip", b"PK\x03\x04" + b"\x14\x00" * 40)
    assert "unparseable_zip" in result.reasons
    assert result.errors == []


def test_archive_holding_executable_is_flagged(engine: AttachmentEngine) -> None:
    result = engine.scan("pics.zip", make_zip({"photo.jpg.lnk": b"L\0\0\0" + b"\0" * 80}))
    assert "double_extension" in _names(result)
    assert result.verdict is not Verdict.CLEAN
