"""Build the Attachment Protect engine from settings: hash feeds, admin YARA rules, ClamAV."""

from __future__ import annotations

from pathlib import Path

from connectors.clamav import ClamdProvider, ClamscanProvider
from connectors.settings import Settings
from tap_core.attachments import AttachmentEngine, HashSet
from tap_core.attachments.antivirus import AntivirusProvider
from tap_core.attachments.yara_rules import YaraRuleError, compile_rules


class EngineConfigError(ValueError):
    """A setting of the attachment engine that cannot be used; the message names it."""


def _paths(value: str) -> list[Path]:
    return [Path(p.strip()) for p in value.split(",") if p.strip()]


def _rule_files(value: str) -> dict[str, str]:
    sources: dict[str, str] = {}
    for path in _paths(value):
        files = sorted(path.glob("*.yar")) + sorted(path.glob("*.yara")) if path.is_dir() else [path]
        for f in files:
            try:
                sources[f.stem] = f.read_text("utf-8")
            except OSError as exc:
                raise EngineConfigError(f"TAP365_YARA_RULES: cannot read {f} ({exc.strerror})") from exc
    return sources


def build_attachment_engine(settings: Settings) -> AttachmentEngine:
    hash_sets = []
    for path in _paths(settings.hash_feeds):
        try:
            hash_sets.append(HashSet.from_bytes(path.read_bytes(), source=path.name))
        except OSError as exc:
            raise EngineConfigError(f"TAP365_HASH_FEEDS: cannot read {path} ({exc.strerror})") from exc
    try:
        rules = compile_rules(_rule_files(settings.yara_rules))
    except YaraRuleError as exc:
        raise EngineConfigError(f"TAP365_YARA_RULES: {exc}") from exc
    antivirus: AntivirusProvider | None = None
    if settings.clamav == "clamscan":
        antivirus = ClamscanProvider(_paths(settings.clamav_databases))
    elif settings.clamav:
        antivirus = ClamdProvider(settings.clamav)
    return AttachmentEngine(hash_sets=hash_sets, yara_rules=rules, antivirus=antivirus)
