"""The scanner contract: one small class per file kind (Strelka style)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from tap_core.attachments.context import ScanContext


class Scanner(ABC):
    """Looks at one file and adds findings, urls and children to the :class:`ScanContext`.

    A scanner may raise anything: the engine turns an exception into ``scanner_error`` and
    :class:`~tap_core.attachments.context.Unparseable` into ``unparseable_<type>``.
    """

    # Class attributes of each scanner, set per instance by the default set's ``Deferred``.
    #: Short name used in ``scanner_error`` evidence.
    name: str
    #: File types handled; empty means every type (the default set's come from ``dispatch``).
    types: frozenset[str] = frozenset()
    #: Runs even on a file above ``max_file_bytes`` (cheap whole-file checks such as hashes).
    runs_on_oversize: bool = False

    def applies(self, ctx: ScanContext) -> bool:
        return not self.types or ctx.kind.type in self.types

    @abstractmethod
    def scan(self, data: bytes, ctx: ScanContext) -> None: ...
