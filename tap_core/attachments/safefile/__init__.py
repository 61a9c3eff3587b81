"""Safe File: a PDF rebuilt from an attachment's appearance or text, with no active content."""

from tap_core.attachments.safefile.convert import (
    ACTIVE_KEYS,
    IMAGE_TYPES,
    OFFICE_TYPES,
    TEXT_TYPES,
    OfficeConverter,
    SafeFileError,
    SafeFileLimits,
    SafeFileResult,
    active_content,
    pdf_links,
    safe_file,
)

__all__ = [
    "ACTIVE_KEYS",
    "IMAGE_TYPES",
    "OFFICE_TYPES",
    "TEXT_TYPES",
    "OfficeConverter",
    "SafeFileError",
    "SafeFileLimits",
    "SafeFileResult",
    "active_content",
    "pdf_links",
    "safe_file",
]
