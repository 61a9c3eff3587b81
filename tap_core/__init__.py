"""tap_core: the pure pipelines of the targeted attack protection service.

Nothing here talks to Azure, Microsoft Graph or the network; I/O comes in through small
interfaces (stores, fetchers, feeds given as bytes) supplied by ``connectors``.
"""

__version__ = "0.1.0"

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A package's module ``__getattr__`` (PEP 562) that imports each re-exported name from its
    submodule (``exports``: name -> module) on first use, so that importing one submodule does
    not load every sibling the package re-exports (a cold Functions instance pays for each)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
