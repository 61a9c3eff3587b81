"""The one door to the network for click-time analysis: a ``Fetcher`` protocol and its result.

``connectors.fetcher.SafeFetcher`` implements it (SSRF-safe, GET only, capped); tests and the
evaluation may inject their own. Analysis code never opens a socket itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


class FetchError(Exception):
    """A fetch that did not produce a page. ``code`` names why (shown as a finding)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class FetchBlocked(FetchError):
    """Refused before connecting: the address is not public, the scheme is not web, ..."""


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # what was asked for
    final_url: str  # after redirects
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    truncated: bool = False
    #: Every URL visited, in order (the first is ``url``).
    hops: tuple[str, ...] = ()
    #: A redirect target the fetcher did not follow because ``stop_before`` said so.
    stopped_at: str = ""
    address: str = ""  # the vetted IP the last hop connected to

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_redirects: int = 5
    max_bytes: int = 2 * 1024 * 1024
    timeout_seconds: float = 8.0
    extra: Mapping[str, str] = field(default_factory=dict)


class Fetcher(Protocol):
    async def fetch(
        self, url: str, *, stop_before: Callable[[str], bool] | None = None, language: str | None = None
    ) -> FetchedPage:
        """GET ``url`` following redirects, as a browser would; ``stop_before(next_url)`` True
        leaves a hop unfetched; ``language``: the Accept-Language of the person who clicked.

        Raises :class:`FetchBlocked` or :class:`FetchError`.
        """
        ...
