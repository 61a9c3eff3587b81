"""Attachment Protect, static stage: identify, scan, recurse within limits, decide, apply policy.

Public entry points: :class:`AttachmentEngine` (``scan(name, data, passwords=...)``),
:func:`assess_attachments` for a whole message, :func:`scan_file` for the CLI's JSON report.
"""

from tap_core.attachments.engine import AttachmentEngine, rescore
from tap_core.attachments.filetype import FileKind, identify, name_findings
from tap_core.attachments.hashsets import HashSet
from tap_core.attachments.model import FILE_THRESHOLDS, FileResult, FileUrl, ScanLimits
from tap_core.attachments.passwords import candidate_passwords, message_passwords
from tap_core.attachments.policy import AttachmentPolicy
from tap_core.attachments.protect import AttachmentsAssessment, AttachmentUrl, assess_attachments
from tap_core.attachments.report import result_to_dict, scan_file

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
