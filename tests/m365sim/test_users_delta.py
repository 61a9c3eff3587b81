"""``/users/delta`` in the simulator: a first round of every user in pages, then only what
changed (added, changed, removed) since the delta link; an unknown token is 410."""

from __future__ import annotations

from typing import Any

from m365sim.testing import SimHandle


def _get(sim: SimHandle, url: str, token: str) -> dict[str, Any]:
    response = sim.session.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _round(sim: SimHandle, token: str, url: str) -> tuple[list[dict[str, Any]], str, int]:
    users: list[dict[str, Any]] = []
    pages = 0
    while True:
        data = _get(sim, url, token)
        pages += 1
        users += data["value"]
        if "@odata.nextLink" in data:
            url = data["@odata.nextLink"]
            continue
        return users, data["@odata.deltaLink"], pages


def test_users_delta_lists_all_then_changes(sim: SimHandle, token: str) -> None:
    tenant = sim.tenant(0)
    first, link, pages = _round(sim, token, f"{sim.graph_url}/users/delta?$select=id,userPrincipalName,mail&$top=4")
    assert pages == 2 and {u["userPrincipalName"] for u in first} == {
        u["userPrincipalName"] for u in tenant["users"]
    }
    quiet, link, _ = _round(sim, token, link)
    assert quiet == []

    added = sim.control("POST", "/users", json={"tenant": tenant["id"], "userPrincipalName": "new.hire@contoso.test"})
    gone = tenant["users"][1]
    sim.control("DELETE", f"/users/{gone['userPrincipalName']}")
    changes, link, _ = _round(sim, token, link)
    assert {"id": gone["id"], "@removed": {"reason": "changed"}} in changes
    new = next(u for u in changes if u.get("userPrincipalName") == "new.hire@contoso.test")
    assert new["id"] == added["id"] and new["mail"] == "new.hire@contoso.test"
    assert len(changes) == 2
    # The new user is a mailbox like any other; the removed one is gone from /users.
    assert sim.graph("GET", "/users/new.hire@contoso.test/mailFolders/inbox", token).status_code == 200
    assert sim.graph("GET", f"/users/{gone['id']}", token).status_code == 404

    sim.control("POST", "/users", json={"tenant": tenant["id"], "userPrincipalName": "new.hire@contoso.test",
                                        "accountEnabled": False})
    changed, _, _ = _round(sim, token, link)
    assert [u["userPrincipalName"] for u in changed] == ["new.hire@contoso.test"]


def test_unknown_users_delta_token_is_410(sim: SimHandle, token: str) -> None:
    response = sim.session.get(f"{sim.graph_url}/users/delta?$deltatoken=nope",
                               headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 410 and response.json()["error"]["code"] == "syncStateNotFound"
