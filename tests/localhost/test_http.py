"""HTTP triggers through the local host: routes, methods, auth levels, request and response mapping."""

from __future__ import annotations

import logging
from typing import cast

import httpx
import pytest

from connectors.localhost.host import LocalHost
from connectors.localhost.http import HttpFrontEnd
from connectors.localhost.invoke import Invoker
from connectors.localhost.loader import FunctionSpec


def test_route_params_catch_all_and_raw_query(client: httpx.Client, sample_host: LocalHost) -> None:
    raw_query = "u=https%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D2&sig=AbC-_~&empty=&u2=x+y"
    r = client.get(f"/api/echo/42/some/deep/path%20x?{raw_query}", headers={"X-Custom": "v"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    data = r.json()
    assert data["method"] == "GET"
    assert data["url"] == f"{sample_host.base_url}/api/echo/42/some/deep/path%20x?{raw_query}"
    assert data["route_params"] == {"id": "42", "rest": "some/deep/path x"}
    assert data["params"]["u"] == "https://example.com/?a=1&b=2"
    assert data["params"]["empty"] == ""
    assert data["custom"] == "v"
    assert data["forwarded_for"].startswith("127.0.0.1:")


def test_route_constraint_and_unknown_routes(client: httpx.Client) -> None:
    assert client.get("/api/echo/notanint/x").status_code == 404
    assert client.get("/api/nothing-here").status_code == 404
    assert client.get("/echo/1/x").status_code == 404  # outside the route prefix
    assert client.get("/").status_code == 200  # the host's home page


def test_optional_param_literal_precedence_and_methods(client: httpx.Client) -> None:
    assert client.get("/api/items").json()["route_params"] == {}
    assert client.get("/api/items/abc").json()["route_params"] == {"name": "abc"}
    assert client.get("/api/items/special").text == "special"  # the literal route wins
    posted = client.post("/api/items/abc", content=b"\x00payload")
    assert posted.json()["method"] == "POST" and posted.json()["body"].endswith("payload")
    assert client.post("/api/items/special").json()["route_params"] == {"name": "special"}
    assert client.delete("/api/items/abc").status_code == 404  # method not listed: 404, as in Functions
    assert client.put("/api/echo/1/x").status_code == 404


def test_auth_levels_need_a_configured_key(client: httpx.Client) -> None:
    assert client.get("/api/secure").status_code == 401
    assert client.get("/api/secure", headers={"x-functions-key": "wrong"}).status_code == 401
    assert client.get("/api/secure", headers={"x-functions-key": "key-two"}).text == "secret ok"
    assert client.get("/api/secure?code=key-one").text == "secret ok"
    assert client.get("/api/manage").status_code == 401
    assert client.get("/api/manage?code=key-one").text == "admin ok"
    assert client.get("/api/echo/1/x").status_code == 200  # anonymous


def test_response_status_headers_cookies_and_charset(client: httpx.Client) -> None:
    r = client.get("/api/cookies")
    assert r.status_code == 201
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == "<p>hi</p>"
    assert "server" not in r.headers


def test_unhandled_exception_is_500_without_detail(client: httpx.Client,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="tap365.localhost"):
        r = client.get("/api/boom")
    assert r.status_code == 500
    assert "internal detail" not in r.text and "Traceback" not in r.text
    failed = [rec for rec in caplog.records if "Functions.boom" in rec.getMessage()]
    assert failed and failed[0].exc_info is not None  # the trace is logged instead


def test_function_timeout_is_500(client: httpx.Client) -> None:
    r = client.get("/api/slow")
    assert r.status_code == 500
    assert "too late" not in r.text


def test_routes_starting_with_admin_are_in_error_as_in_azure(client: httpx.Client, sample_host: LocalHost) -> None:
    assert "reserved" in sample_host.function_errors
    assert "built in routes" in sample_host.function_errors["reserved"]
    assert client.get("/api/admin/things").status_code == 404


def test_reserved_admin_prefix_is_a_plain_prefix_match() -> None:
    # As in the host: a function named "admin-results-email" (route defaults to the name) is refused too.
    specs = [FunctionSpec(name, {"type": "httpTrigger", "name": "req", "route": route}, lambda req: None)
             for name, route in [("a", None), ("admin-results-email", None), ("c", "Admin/x"), ("d", "x/admin")]]
    front = HttpFrontEnd(specs, "api", cast(Invoker, None))
    assert sorted(front.errors) == ["admin-results-email", "c"]
    assert [r.spec.name for r in front.routes] == ["a", "d"]


def test_head_request_has_headers_but_no_body(client: httpx.Client) -> None:
    r = client.head("/api/cookies")
    assert r.status_code == 201
    assert r.headers["content-length"] == str(len(b"<p>hi</p>"))
    assert r.content == b""
