"""Attachment Protect, static stage: identify, scan, recurse within limits, decide, apply policy.

Public entry points: :class:`AttachmentEngine` (``scan(name, data, passwords=...)``),
:func:`assess_attachments` for a whole message, :func:`scan_file` for the CLI's JSON report.
"""

from typing import TYPE_CHECKING

from tap_core import lazy_exports

if TYPE_CHECKING:
    from tap_core.attachments.engine import AttachmentEngine, rescore
    from tap_core.attachments.filetype import FileKind, identify, name_findings
    from tap_core.attachments.hashsets import HashSet
    from tap_core.attachments.model import FILE_THRESHOLDS, FileResult, FileUrl, ScanLimits
    from tap_core.attachments.passwords import candidate_passwords, message_passwords
    from tap_core.attachments.policy import AttachmentPolicy
    from tap_core.attachments.protect import AttachmentsAssessment, AttachmentUrl, assess_attachments
    from tap_core.attachments.report import result_to_dict, scan_file

#: Loaded on first use: importing one submodule must not load all of them (cold start).
__getattr__ = lazy_exports(__name__, {
    "AttachmentEngine": "tap_core.attachments.engine",
    "rescore": "tap_core.attachments.engine",
    "FileKind": "tap_core.attachments.filetype",
    "identify": "tap_core.attachments.filetype",
    "name_findings": "tap_core.attachments.filetype",
    "HashSet": "tap_core.attachments.hashsets",
    "FILE_THRESHOLDS": "tap_core.attachments.model",
    "FileResult": "tap_core.attachments.model",
    "FileUrl": "tap_core.attachments.model",
    "ScanLimits": "tap_core.attachments.model",
    "candidate_passwords": "tap_core.attachments.passwords",
    "message_passwords": "tap_core.attachments.passwords",
    "AttachmentPolicy": "tap_core.attachments.policy",
    "AttachmentsAssessment": "tap_core.attachments.protect",
    "AttachmentUrl": "tap_core.attachments.protect",
    "assess_attachments": "tap_core.attachments.protect",
    "result_to_dict": "tap_core.attachments.report",
    "scan_file": "tap_core.attachments.report",
})

__all__ = [
    "FILE_THRESHOLDS",
    "AttachmentEngine",
    "AttachmentPolicy",
    "AttachmentUrl",
    "AttachmentsAssessment",
    "FileKind",
    "FileResult",
    "FileUrl",
    "HashSet",
    "ScanLimits",
    "assess_attachments",
    "candidate_passwords",
    "identify",
    "message_passwords",
    "name_findings",
    "rescore",
    "result_to_dict",
    "scan_file",
]
