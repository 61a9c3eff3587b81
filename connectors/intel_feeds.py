"""Read threat-intelligence feeds from files or https URLs and build the index.

``tap_core`` parses bytes and never does I/O; this is where the bytes come from. The service
refreshes through :func:`refresh_feeds` (a failing source falls back to its last good copy in
storage and is recorded, never raised), builds the index once per new version and stores it as
one compact file beside the version; other instances load that file through
:func:`load_published` (one read, no feed parsing), or the feed copies when it is missing or
refused.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connectors.storage.intel import BlobIntelStore, FeedStatus, IntelManifest, copy_name, iso, redact
from tap_core.urls.feeds import FeedLimits, ParsedFeed, parse_feed
from tap_core.urls.intel import IntelIndex
from tap_core.urls.intel_file import IntelFileError

log = logging.getLogger("tap365.intel")

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
            raise FeedLoadError(f"feed {redact(location)}: only https URLs are fetched")
        request = urllib.request.Request(  # noqa: S310 - https only, checked above
            location, headers={"User-Agent": "tap365-intel/0.1"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                data = response.read(max_bytes + 1)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise FeedLoadError(f"feed {redact(location)}: download failed ({exc})") from exc
    else:
        path = Path(location)
        try:
            with path.open("rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise FeedLoadError(f"feed {location}: cannot read ({exc.strerror})") from exc
    if len(data) > max_bytes:
        raise FeedLoadError(f"feed {redact(location)}: larger than {max_bytes} bytes")
    return data


def feed_name(location: str) -> str:
    """The name a feed is parsed under (its format is detected from it)."""
    return location.rsplit("/", 1)[-1] or location


def load_feed(location: str, *, limits: FeedLimits | None = None) -> ParsedFeed:
    return parse_feed(read_feed_bytes(location), name=feed_name(location), limits=limits)


def load_intel(locations: Sequence[str], *, limits: FeedLimits | None = None) -> IntelIndex:
    index = IntelIndex()
    for location in locations:
        index.add_feed(load_feed(location, limits=limits))
    return index


# --- the service: shared, fault-tolerant refresh ---------------------------------------------------


@dataclass
class LoadedIntel:
    """One intelligence version: the version that names it, and its index already built (loaded
    from the compact file) or the feeds parsed to build it from."""

    version: str
    feeds: list[ParsedFeed] = field(default_factory=list)
    statuses: list[FeedStatus] = field(default_factory=list)
    built: IntelIndex | None = None

    def index(self) -> IntelIndex:
        if self.built is not None:
            return self.built
        index = IntelIndex()
        for feed in self.feeds:
            index.add_feed(feed)
        return index.freeze()


def _version(shas: Sequence[str]) -> str:
    return hashlib.sha256("".join(shas).encode()).hexdigest()[:16]


def refresh_feeds(
    locations: Sequence[str],
    store: BlobIntelStore,
    *,
    limits: FeedLimits | None = None,
    now: datetime | None = None,
    read: Callable[[str], bytes] = read_feed_bytes,
) -> LoadedIntel:
    """Read every feed from its source; a source that fails (unreachable, unreadable, unparseable)
    is replaced by its last good copy and recorded with when and why. Good downloads become the
    new last good copies; the resulting version is published for every instance, and each
    feed's health is stored. Never raises for a feed."""
    now = now or datetime.now(UTC)
    previous = {s.feed: s for s in store.get_status()}
    loaded: list[ParsedFeed] = []
    statuses: list[FeedStatus] = []
    manifest: list[dict[str, str]] = []
    for location in locations:
        shown, name = redact(location), feed_name(location)
        checked = iso(now)
        try:
            data = read(location)
            parsed = parse_feed(data, name=name, limits=limits)
            if parsed.fatal:
                raise FeedLoadError(f"feed {shown}: {parsed.fatal}")
            sha = hashlib.sha256(data).hexdigest()
            blob = store.put_copy(location, data, sha)
        except Exception as exc:
            error = (str(exc) if isinstance(exc, FeedLoadError)
                     else f"feed {shown}: {type(exc).__name__}: {exc}")[:500]
            log.warning("intelligence feed failed, using its last good copy if any: %s", error)
            last_success = previous[shown].last_success if shown in previous else ""
            blob = copy_name(location)
            copy = store.get_copy(blob)
            fallback = parse_feed(copy, name=name, limits=limits) if copy is not None else None
            if fallback is None or fallback.fatal:
                statuses.append(FeedStatus(shown, False, checked, "none", error, last_success))
                continue
            assert copy is not None
            loaded.append(fallback)
            sha = hashlib.sha256(copy).hexdigest()
            manifest.append({"feed": shown, "blob": blob, "sha256": sha, "name": name})
            statuses.append(FeedStatus(shown, False, checked, "last good copy", error, last_success,
                                       len(fallback)))
            continue
        loaded.append(parsed)
        manifest.append({"feed": shown, "blob": blob, "sha256": sha, "name": name})
        statuses.append(FeedStatus(shown, True, checked, "download", "", checked, len(parsed)))
    store.put_status(statuses)
    if not loaded:
        return LoadedIntel("", [], statuses)
    version = _version([m["sha256"] for m in manifest])
    current = store.current()
    if current is not None and current.version == version and current.index == store.index_name(version):
        return LoadedIntel(version, loaded, statuses)
    # A new version, or one whose index is missing or of another file format (a new build): build.
    built, index_blob = _store_index(store, version, loaded)
    store.publish(IntelManifest(version, iso(now), manifest, index_blob))
    if index_blob:
        # Keep the previous version's file: an instance may be reading it right now.
        store.prune_indexes({index_blob, current.index if current is not None else ""})
    return LoadedIntel(version, loaded, statuses, built)


def _store_index(
    store: BlobIntelStore, version: str, feeds: Sequence[ParsedFeed]
) -> tuple[IntelIndex, str]:
    """Build the index of ``version`` once and store it as one compact file: (the index, read
    back from that file as every instance will, and its blob name). A failure is logged and
    leaves instances on the feed copies: (the in-memory index, "")."""
    index = IntelIndex.from_feeds(feeds)
    try:
        data = index.to_bytes()
        loaded = IntelIndex.from_bytes(data)  # what other instances get, checked before it is shared
        return loaded, store.put_index(version, data)
    except Exception as exc:  # never lose the refresh over the file: the feed copies still serve
        log.error("compact intelligence index not stored for version %s (instances load the feeds): %s: %s",
                  version, type(exc).__name__, exc)
        return index, ""


class PublishedChanged(RuntimeError):
    """A feed copy changed while it was read: the next check loads the newer version."""


def load_published(
    store: BlobIntelStore, *, limits: FeedLimits | None = None, parse_feeds: bool = False
) -> LoadedIntel | None:
    """The version another instance published (None: nothing published): its compact index in
    one read; the stored feed copies too when there is none, it is refused (corrupt, another
    format version) or ``parse_feeds`` asks for the feeds (the timer's purge keys)."""
    manifest = store.current()
    if manifest is None:
        return None
    built: IntelIndex | None = None
    if manifest.index:
        data = store.get_index(manifest.index)
        if data is None:
            raise PublishedChanged(f"index of version {manifest.version} was replaced while it was read")
        try:
            built = IntelIndex.from_bytes(data)
        except IntelFileError as exc:
            log.error("compact intelligence index %s refused, building from the feed copies: %s",
                      manifest.index, exc)
        if built is not None and not parse_feeds:
            return LoadedIntel(manifest.version, [], store.get_status(), built)
    feeds: list[ParsedFeed] = []
    for entry in manifest.feeds:
        data = store.get_copy(entry.get("blob", ""))
        if data is None or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise PublishedChanged(
                f"feed copy {entry.get('feed')} changed while version {manifest.version} was read"
            )
        feeds.append(parse_feed(data, name=entry.get("name") or "feed", limits=limits))
    return LoadedIntel(manifest.version, feeds, store.get_status(), built)
