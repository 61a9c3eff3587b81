"""The app settings the code reads, derived from the code itself (never a hand-kept list).

* every pydantic-settings ``BaseSettings`` subclass defined under ``connectors/`` (found by
  importing every module of the package): ``env_prefix`` + field name, upper-cased, or the
  field's alias;
* every ``from_env(env)`` reader under ``connectors/`` (e.g. ``StorageConfig.from_env``), called
  with a mapping that records each name it looks up;
* literal names in ``os.environ[...]``, ``os.environ.get(...)``, ``os.getenv(...)`` anywhere in
  ``connectors/`` and ``function_app.py``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CodeSettings:
    #: env name -> where it is read (``module.Class.field`` ...)
    names: dict[str, str] = field(default_factory=dict)
    #: env names of secret fields (``repr=False`` or ``SecretStr``)
    secrets: set[str] = field(default_factory=set)
    #: modules that could not be imported (their settings would be missed)
    import_errors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, where: str) -> None:
        self.names.setdefault(name, where)


class _Recorder(dict):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def get(self, key: Any, default: Any = None) -> Any:
        self.seen.append(key)
        return default

    def __getitem__(self, key: Any) -> Any:
        self.seen.append(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        self.seen.append(str(key))
        return False


def _modules() -> Iterator[tuple[str, Any]]:
    import connectors

    yield "connectors", connectors
    for info in pkgutil.walk_packages(connectors.__path__, "connectors."):
        try:
            yield info.name, importlib.import_module(info.name)
        except Exception as exc:  # reported by the caller: a missed module hides its settings
            yield info.name, exc


def _is_secret(info: Any) -> bool:
    from pydantic import SecretStr

    return info.repr is False or info.annotation is SecretStr


def _settings_fields(cls: type, result: CodeSettings) -> None:
    prefix = str(cls.model_config.get("env_prefix") or "")
    for name, info in cls.model_fields.items():
        envs: list[str] = []
        alias = info.validation_alias or info.alias
        if isinstance(alias, str):
            envs = [alias]
        elif alias is not None and hasattr(alias, "choices"):
            envs = [c for c in alias.choices if isinstance(c, str)]
        else:
            envs = [prefix + name]
        for env in envs:
            env = env.upper()
            result.add(env, f"{cls.__module__}.{cls.__qualname__}.{name}")
            if _is_secret(info):
                result.secrets.add(env)


def _from_env_readers(module: Any) -> Iterator[tuple[str, Any]]:
    for obj in vars(module).values():
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            reader = getattr(obj, "from_env", None)
            if reader is not None:
                yield f"{obj.__module__}.{obj.__qualname__}.from_env", reader
        elif inspect.isfunction(obj) and obj.__module__ == module.__name__ and obj.__name__.endswith("from_env"):
            yield f"{obj.__module__}.{obj.__name__}", obj


def _literal_env_reads(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    for node in ast.walk(tree):
        arg: ast.AST | None = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and (
                (func.attr in ("get", "pop", "setdefault") and is_environ(func.value)) or func.attr == "getenv"
            ):
                arg = node.args[0]
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            arg = node.slice
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            yield arg.value


def discover() -> CodeSettings:
    from pydantic_settings import BaseSettings

    result = CodeSettings()
    for name, module in _modules():
        if isinstance(module, Exception):
            result.import_errors[name] = f"{type(module).__name__}: {module}"
            continue
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseSettings) and obj is not BaseSettings
                    and obj.__module__ == module.__name__):
                _settings_fields(obj, result)
        for where, reader in _from_env_readers(module):
            try:
                params = inspect.signature(reader).parameters
            except (TypeError, ValueError):
                continue
            if "env" not in params:
                continue
            recorder = _Recorder()
            try:
                reader(env=recorder)
            except Exception:  # noqa: S110 - only the names looked up matter, not the result
                pass
            for env in recorder.seen:
                if isinstance(env, str):
                    result.add(env, where)
    sources = sorted((ROOT / "connectors").rglob("*.py"))
    if (ROOT / "function_app.py").is_file():
        sources.append(ROOT / "function_app.py")
    for path in sources:
        for env in _literal_env_reads(path):
            result.add(env, str(path.relative_to(ROOT)))
    return result


if __name__ == "__main__":  # python -m tests.infra.code_settings: list them
    found = discover()
    for env, where in sorted(found.names.items()):
        print(f"{env:45} {where}{'  (secret)' if env in found.secrets else ''}")
    for module, error in found.import_errors.items():
        print(f"import failed: {module}: {error}")
