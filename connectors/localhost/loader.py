"""Load ``function_app.py`` by file path, as the Python worker does, and describe its functions."""

from __future__ import annotations

import enum
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func

from connectors.localhost.config import HostConfigError

TRIGGERS = ("httpTrigger", "queueTrigger", "timerTrigger")
_APP_SETTING = re.compile(r"%([^%]+)%")


class AppLoadError(HostConfigError):
    """function_app.py is missing, fails to import, or declares something the local host cannot run."""


@dataclass(frozen=True)
class FunctionSpec:
    """One registered function: its trigger binding (enums turned into plain strings) and callable."""

    name: str
    trigger: dict[str, Any]
    user_function: Callable[..., Any]

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def arg_name(self) -> str:
        return str(self.trigger["name"])

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    def describe(self) -> str:
        t = self.trigger
        if self.trigger_type == "httpTrigger":
            methods = ",".join(t.get("methods") or ["*"])
            return f"{self.name}: [{methods}] {t.get('route')} ({t.get('authLevel', 'function')})"
        if self.trigger_type == "queueTrigger":
            return f"{self.name}: queue {t['queueName']} ({t.get('connection') or 'AzureWebJobsStorage'})"
        return f"{self.name}: timer {t['schedule']}"


def _plain(value: Any) -> Any:
    """Binding JSON as function.json would hold it: enums become their string values."""
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, str) else value.name.lower()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def resolve_app_settings(text: str) -> str:
    """Replace ``%Name%`` with the app setting, as the host does in binding values."""
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise AppLoadError(f"binding value {text!r} names app setting {name!r}, which is not set")
        return os.environ[name]
    return _APP_SETTING.sub(lookup, text)


def import_function_app(app_root: Path) -> Any:
    """Execute ``<app_root>/function_app.py`` as module ``function_app`` (the worker's name for it)."""
    path = app_root / "function_app.py"
    if not path.is_file():
        raise AppLoadError(f"no function_app.py in {app_root}; pass the app root (--app-root) that holds it")
    root = str(app_root.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)  # the worker puts the script root first, so the app's own imports work
    spec = importlib.util.spec_from_file_location("function_app", path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop("function_app", None)
        raise AppLoadError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def find_app(module: Any) -> func.FunctionApp:
    """The module's ``FunctionApp``: ``app`` if it is one, else the only instance among its globals."""
    candidate = getattr(module, "app", None)
    if isinstance(candidate, func.FunctionApp):
        return candidate
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionApp)]
    if len(apps) != 1:
        raise AppLoadError(
            f"{module.__file__} must define exactly one azure.functions.FunctionApp (found {len(apps)}); "
            "name it `app`"
        )
    return apps[0]


def describe_functions(app: func.FunctionApp) -> list[FunctionSpec]:
    """Every function with one supported trigger; output bindings (other than HTTP's) are refused."""
    specs: list[FunctionSpec] = []
    for function in app.get_functions():
        name = function.get_function_name() or function.get_user_function().__name__
        bindings = [_plain(b) for b in function.get_bindings_dict().get("bindings", [])]
        triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
        if len(triggers) != 1:
            raise AppLoadError(f"function {name!r} has {len(triggers)} triggers; it needs exactly one")
        trigger = triggers[0]
        if trigger["type"] not in TRIGGERS:
            raise AppLoadError(
                f"function {name!r} uses a {trigger['type']}, which the local host does not run "
                f"(supported: {', '.join(TRIGGERS)}); run it under `func start` instead"
            )
        for binding in bindings:
            if binding is trigger:
                continue
            if trigger["type"] == "httpTrigger" and binding.get("type") == "http":
                continue  # the HTTP response ($return)
            raise AppLoadError(
                f"function {name!r} declares a {binding.get('type')} binding {binding.get('name')!r}; "
                "the local host supports no input/output bindings besides the trigger and HTTP's response: "
                "use the Azure SDK client in the function body instead"
            )
        specs.append(FunctionSpec(name, trigger, function.get_user_function()))
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AppLoadError(f"function names must be unique; repeated: {', '.join(duplicates)}")
    return specs


def load_functions(app_root: Path) -> list[FunctionSpec]:
    return describe_functions(find_app(import_function_app(app_root)))
