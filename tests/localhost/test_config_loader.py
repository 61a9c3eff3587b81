"""host.json and local.settings.json reading, and loading function_app.py by path."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from connectors.localhost.config import (
    HostConfigError,
    apply_values,
    load_host_json,
    load_local_settings,
    parse_timespan,
)
from connectors.localhost.host import LocalHost
from connectors.localhost.loader import AppLoadError, load_functions


def test_host_json_defaults_and_values(tmp_path: Path) -> None:
    defaults = load_host_json(tmp_path)
    assert defaults.route_prefix == "api" and defaults.queues.max_dequeue_count == 5
    assert defaults.queues.batch_size == 16 and defaults.queues.threshold == 8
    (tmp_path / "host.json").write_text(json.dumps({
        "functionTimeout": "-1",
        "extensions": {"http": {"routePrefix": ""}, "queues": {
            "batchSize": 2, "maxDequeueCount": 1, "visibilityTimeout": "00:00:30",
            "maxPollingInterval": "00:00:02", "newBatchThreshold": 0}},
    }))
    config = load_host_json(tmp_path)
    assert config.route_prefix == "" and config.function_timeout is None
    assert (config.queues.batch_size, config.queues.max_dequeue_count, config.queues.threshold) == (2, 1, 0)
    assert config.queues.visibility_timeout == 30 and config.queues.max_polling_interval == 2


def test_bad_host_json_says_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"queues": {"batchSize": "many"}}}))
    with pytest.raises(HostConfigError, match="batchSize"):
        load_host_json(tmp_path)
    assert parse_timespan("00:01:30.5") == 90.5
    with pytest.raises(HostConfigError):
        parse_timespan("90s")


def test_local_settings_do_not_override_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"A": "from-file", "B": "from-file", "C": True},
                                "Host": {"LocalHttpPort": 7099}}))
    settings = load_local_settings(path)
    assert settings.local_http_port == 7099
    env = {"A": "from-env"}
    assert apply_values(settings.values, env) == ["B", "C"]
    assert env == {"A": "from-env", "B": "from-file", "C": "true"}
    with pytest.raises(HostConfigError, match="not found"):
        load_local_settings(tmp_path / "missing.json", required=True)


def _app(tmp_path: Path, body: str) -> Path:
    (tmp_path / "function_app.py").write_text(textwrap.dedent(body))
    return tmp_path


def test_output_binding_is_refused_by_name(tmp_path: Path) -> None:
    root = _app(tmp_path, """
        import azure.functions as func
        app = func.FunctionApp()

        @app.route(route="x")
        @app.queue_output(arg_name="out", queue_name="q", connection="AzureWebJobsStorage")
        def writer(req, out):
            return func.HttpResponse("x")
    """)
    with pytest.raises(AppLoadError, match="'writer' declares a queue binding 'out'"):
        load_functions(root)


def test_missing_or_broken_app_is_reported(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError, match=r"no function_app\.py"):
        load_functions(tmp_path)
    _app(tmp_path, "raise RuntimeError('broken on import')\n")
    with pytest.raises(AppLoadError, match="broken on import"):
        load_functions(tmp_path)


def test_start_fails_clearly_and_restores_environment(tmp_path: Path) -> None:
    root = _app(tmp_path, """
        import azure.functions as func
        app = func.FunctionApp()

        @app.timer_trigger(schedule="not a schedule", arg_name="t")
        def t(t):
            pass
    """)
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"TAP365_TEST_ONLY_VALUE": "1"}}))
    host = LocalHost(root, port=0)
    with pytest.raises(Exception, match="NCRONTAB"):
        host.start()
    assert "TAP365_TEST_ONLY_VALUE" not in os.environ
