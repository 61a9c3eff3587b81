"""Log levels for the libraries we drive, set once by each entry point (CLI, local host,
Functions app).

pypdf warns about every malformed PDF it reads ("invalid pdf header", "EOF marker not found");
hostile attachments are the norm here and a PDF that does not parse is already a named finding
(``unparseable_pdf``), so those warnings are noise. The Azure SDK logs every HTTP request at INFO.
"""

from __future__ import annotations

import logging

_QUIETER = {"azure": logging.WARNING, "pypdf": logging.ERROR}


def quiet_third_party_loggers() -> None:
    for name, level in _QUIETER.items():
        logging.getLogger(name).setLevel(level)
