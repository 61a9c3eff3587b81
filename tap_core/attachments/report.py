"""The JSON shape of one scanned file, for ``tap365 scan-file FILE... --json``.

``{source, type, size, sha256, verdict, score, reasons, findings, urls, errors, children}`` where
``reasons`` are the finding names, ``findings`` the details, ``urls`` the URLs found in the file
(``{url, context[, link_text]}``) and ``children`` the same shape for every extracted file,
recursively.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.model import FileResult


def result_to_dict(result: FileResult) -> dict[str, Any]:
    return {
        "source": result.name,
        "type": result.type,
        "size": result.size,
        "sha256": result.sha256,
        "verdict": result.verdict.value,
        "score": result.score,
        "reasons": result.reasons,
        "findings": [
            {
                "name": f.name,
                "score": f.score,
                "reason": f.reason,
                "evidence": f.evidence,
                **({"verdict": f.verdict.value} if f.verdict is not None else {}),
            }
            for f in result.findings
        ],
        "urls": [found.model_dump(exclude_none=True) for found in result.urls],
        "errors": result.errors,
        "children": [result_to_dict(child) for child in result.children],
    }


def scan_file(
    name: str, data: bytes, engine: AttachmentEngine, passwords: Sequence[str] = ()
) -> dict[str, Any]:
    """Scan one file and return its JSON-ready report."""
    return result_to_dict(engine.scan(name, data, passwords=passwords))
