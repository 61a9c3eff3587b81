"""Route templates as the Functions host matches them."""

from __future__ import annotations

import pytest

from connectors.localhost.routes import RouteError, RouteTemplate


def test_params_constraints_and_prefix() -> None:
    t = RouteTemplate("users/{id:int}/files/{name}", "api")
    assert t.match("/api/users/7/files/a%20b") == {"id": "7", "name": "a b"}
    assert t.match("/API/Users/7/files/x") == {"id": "7", "name": "x"}  # literals ignore case
    assert t.match("/api/users/x/files/a") is None
    assert t.match("/api/users/7/files") is None
    assert t.match("/api/users/7/files/a/b") is None
    assert t.match("/users/7/files/a") is None


def test_catch_all_and_optional_and_default() -> None:
    catch = RouteTemplate("r/{*rest}", "api")
    assert catch.match("/api/r/a/b/c") == {"rest": "a/b/c"}
    assert catch.match("/api/r") == {}
    optional = RouteTemplate("items/{name?}", "")
    assert optional.match("/items") == {}
    assert optional.match("/items/x") == {"name": "x"}
    default = RouteTemplate("page/{n:int=1}", "")
    assert default.match("/page") == {"n": "1"}
    assert default.match("/page/3") == {"n": "3"}


def test_more_constraints() -> None:
    t = RouteTemplate("{g:guid}/{b:bool}/{s:alpha:minlength(2)}", "")
    assert t.match("/0f8fad5b-d9cb-469f-a165-70867728950e/true/ab") is not None
    assert t.match("/nope/true/ab") is None
    assert t.match("/0f8fad5b-d9cb-469f-a165-70867728950e/true/a") is None


def test_precedence_prefers_literals() -> None:
    literal, param, catch = RouteTemplate("a/b"), RouteTemplate("a/{x}"), RouteTemplate("a/{*rest}")
    assert sorted([catch, param, literal], key=lambda t: t.precedence) == [literal, param, catch]


@pytest.mark.parametrize("template", ["a/{x:unknown}", "a/{*rest}/b", "a/x{y}", "a/{bad name}"])
def test_unsupported_templates_fail_at_start(template: str) -> None:
    with pytest.raises(RouteError):
        RouteTemplate(template)


def test_encoded_slash_stays_encoded_as_in_kestrel() -> None:
    assert RouteTemplate("r/{*token}", "api").match("/api/r/a%2Fb/c%20d") == {"token": "a%2Fb/c d"}
    assert RouteTemplate("f/{name}", "").match("/f/a%2fb") == {"name": "a%2Fb"}


def test_regex_constraint_with_groups() -> None:
    t = RouteTemplate("x/{kind:regex(^(verdicts|clicks)$)}", "api")
    assert t.match("/api/x/clicks") == {"kind": "clicks"}
    assert t.match("/api/x/other") is None
