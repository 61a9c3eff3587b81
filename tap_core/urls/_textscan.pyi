"""Type stub of the compiled plain-text URL scanner (tap_core/urls/_textscan.pyx)."""

from collections.abc import Callable, Iterable
from typing import Any

from tap_core.urls.model import FoundUrl
from tap_core.urls.normalize import NormalizedUrl

def configure(
    *,
    normalize_url: Callable[[str], NormalizedUrl | None],
    host_forms: Callable[[str], tuple[str, str] | None],
    normalized_url_cls: type[NormalizedUrl],
    normalized_url_fields: Iterable[str],
    registrable_label: Callable[[str], str],
    plausible_bare_host: Callable[..., bool],
    known_suffix: Callable[[str], bool],
    trie_icann: Any,
    trie_private: Any,
    file_like_tlds: Iterable[str],
    max_step_in: int,
    found_cls: type[FoundUrl],
    found: Callable[..., FoundUrl],
    wrapper_domains: Iterable[str],
) -> None: ...
def scan_text(text: str, limit: int) -> list[tuple[str, NormalizedUrl]]: ...
def found_in_text(text: str, limit: int, source: str, context: str) -> list[FoundUrl]: ...
