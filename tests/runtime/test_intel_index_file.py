"""The compact index on the service path: the timer builds it once and stores it in blob storage
(Azurite) beside the version; a fresh instance loads it without parsing a feed, and falls back to
the feed copies when the file is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from connectors.service.runtime import Runtime
from tap_core.urls.intel import IntelIndex
from tap_core.urls.intel_file import FORMAT_VERSION
from tests.e2e.processor_harness import Service

BAD = "https://evil-login.example/owa/signin"
OLD = "https://old-bad.example/x"


def _fresh(rt: Runtime) -> Runtime:
    return Runtime.create(rt.settings, graph_settings=rt.graph_settings, storage=rt.stores.config)


def test_the_timer_stores_the_index_and_a_fresh_instance_loads_it_without_the_feeds(
    service_factory: Callable[..., Service], tmp_path: Path
) -> None:
    source = tmp_path / "feed.txt"
    source.write_text(f"# feed\n{BAD}\n")
    rt = service_factory(intel_feeds=str(source)).runtime
    rt.refresh_intel()
    manifest = rt.stores.intel.current()
    assert manifest is not None and manifest.version == rt.intel_version
    assert manifest.index == f"index/{manifest.version}.v{FORMAT_VERSION}.tapintel"
    stored = rt.stores.intel.get_index(manifest.index)
    assert stored is not None and IntelIndex.from_bytes(stored).match(BAD)

    # Spoil the feed copy: an instance that parsed the feeds would find it changed and load
    # nothing; one that reads the index does not look at it.
    rt.stores.intel.put_copy(str(source), b"# spoiled\n", "0" * 64)
    other = _fresh(rt)
    assert other.sync_intel()
    assert other.intel_version == rt.intel_version and other.intel is not None and other.intel.match(BAD)
    assert other.intel_error == ""


def test_a_refused_index_falls_back_to_the_feed_copies(
    service_factory: Callable[..., Service], tmp_path: Path
) -> None:
    source = tmp_path / "feed.txt"
    source.write_text(f"# feed\n{BAD}\n")
    rt = service_factory(intel_feeds=str(source)).runtime
    rt.refresh_intel()
    manifest = rt.stores.intel.current()
    assert manifest is not None
    good = rt.stores.intel.get_index(manifest.index)
    assert good is not None
    damaged = bytearray(good)
    damaged[-1] ^= 0xFF
    rt.stores.intel.put_index(manifest.version, bytes(damaged))

    other = _fresh(rt)
    assert other.sync_intel()  # never no intelligence: the copies are parsed instead
    assert other.intel is not None and other.intel.match(BAD) and other.intel_version == rt.intel_version


def test_a_timer_that_loaded_the_index_still_purges_only_new_indicators(
    service_factory: Callable[..., Service], tmp_path: Path
) -> None:
    source = tmp_path / "feed.txt"
    source.write_text(f"# feed\n{OLD}\n")
    first = service_factory(intel_feeds=str(source)).runtime
    first.refresh_intel()
    first_index = first.stores.intel.current()
    assert first_index is not None

    # Another instance loads the published version from the index (no feeds, so no purge keys),
    # then its timer runs on a changed feed.
    timer = _fresh(first)
    assert timer.sync_intel()
    source.write_text(f"# feed\n{OLD}\n{BAD}\n")
    new_keys = timer.refresh_intel()
    assert new_keys == {"url:evil-login.example/owa/signin"}
    assert timer.intel is not None and timer.intel.match(BAD) and timer.intel.match(OLD)

    # Each version's file replaces the one before the previous: old files do not pile up.
    source.write_text(f"# feed\n{BAD}\n")
    timer.refresh_intel()
    assert timer.stores.intel.get_index(first_index.index) is None
    latest = timer.stores.intel.current()
    assert latest is not None and timer.stores.intel.get_index(latest.index) is not None


def test_an_index_of_an_older_file_format_is_rebuilt_by_the_next_timer_run(
    service_factory: Callable[..., Service], tmp_path: Path
) -> None:
    """A new build reads only its own format: the timer rebuilds the index for the unchanged
    feed version instead of leaving every instance to parse the feeds until a feed changes."""
    from dataclasses import replace

    source = tmp_path / "feed.txt"
    source.write_text(f"# feed\n{BAD}\n")
    rt = service_factory(intel_feeds=str(source)).runtime
    rt.refresh_intel()
    manifest = rt.stores.intel.current()
    assert manifest is not None
    old_name = f"index/{manifest.version}.tapintel"  # what a build of an earlier format wrote
    rt.stores.intel.publish(replace(manifest, index=old_name))

    rt.refresh_intel()  # the feed is unchanged
    rebuilt = rt.stores.intel.current()
    assert rebuilt is not None and rebuilt.version == manifest.version
    assert rebuilt.index == f"index/{manifest.version}.v{FORMAT_VERSION}.tapintel"
    data = rt.stores.intel.get_index(rebuilt.index)
    assert data is not None and IntelIndex.from_bytes(data).match(BAD)
