"""Read threat-intelligence feeds from files or https URLs and build the index.

``tap_core`` parses bytes and never does I/O; this is where the bytes come from.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tap_core.urls.feeds import FeedLimits, ParsedFeed, parse_feed
from tap_core.urls.intel import IntelIndex

#: Hard cap on one feed download (compressed), whatever the feed says.
MAX_FEED_BYTES = 512 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 60.0


class FeedLoadError(RuntimeError):
    """A feed that could not be read; the message names it and says why."""


def read_feed_bytes(location: str, *, max_bytes: int = MAX_FEED_BYTES,
                    timeout: float = FETCH_TIMEOUT_SECONDS) -> bytes:
    """The raw bytes of a feed given as a file path or an https URL."""
    if location.startswith(("http://", "https://")):
        if not location.startswith("https://"):
            raise FeedLoadError(f"feed {location}: only https URLs are fetched")
        request = urllib.request.Request(  # noqa: S310 - https only, checked above
            location, headers={"User-Agent": "tap365-intel/0.1"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                data = response.read(max_bytes + 1)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise FeedLoadError(f"feed {location}: download failed ({exc})") from exc
    else:
        path = Path(location)
        try:
            with path.open("rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise FeedLoadError(f"feed {location}: cannot read ({exc.strerror})") from exc
    if len(data) > max_bytes:
        raise FeedLoadError(f"feed {location}: larger than {max_bytes} bytes")
    return data


def load_feed(location: str, *, limits: FeedLimits | None = None) -> ParsedFeed:
    name = location.rsplit("/", 1)[-1] or location
    return parse_feed(read_feed_bytes(location), name=name, limits=limits)


def load_intel(locations: Sequence[str], *, limits: FeedLimits | None = None) -> IntelIndex:
    index = IntelIndex()
    for location in locations:
        index.add_feed(load_feed(location, limits=limits))
    return index
