from __future__ import annotations

import pytest

from tap_core.attachments.engine import AttachmentEngine


@pytest.fixture(scope="module")
def engine() -> AttachmentEngine:
    return AttachmentEngine(cache_size=0)
