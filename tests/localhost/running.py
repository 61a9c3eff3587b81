"""Run the local Functions host for a test: ``with running_host(app_root, env) as host: ...``.

Starts :class:`~connectors.localhost.host.LocalHost` on a free loopback port (its own background
thread), returns once HTTP is listening, and stops it (and restores the environment) afterwards.
The environment is process-wide: the app's functions read it, as under the real host.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from connectors.localhost.host import LocalHost


@contextmanager
def running_host(app_root: Path, env: Mapping[str, str] | None = None, *, port: int = 0,
                 settings_file: Path | None = None, grace_seconds: float = 5.0) -> Iterator[LocalHost]:
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    host = LocalHost(app_root, port=port, settings_file=settings_file, grace_seconds=grace_seconds)
    try:
        host.start()
        try:
            yield host
        finally:
            host.stop()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
