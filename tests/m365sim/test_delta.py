"""Delta queries over a folder: nextLink pages, a deltaLink, changes since, 410 on bad tokens."""

from __future__ import annotations

from m365sim.testing import SimHandle

from .conftest import ADELE, IMMUTABLE, sample_mail

DELTA = f"/users/{ADELE}/mailFolders/inbox/messages/delta"


def _follow(sim: SimHandle, token: str, first: dict, headers: dict[str, str]) -> tuple[list[dict], str]:
    items, page = list(first["value"]), first
    while "@odata.nextLink" in page:
        page = sim.session.get(
            page["@odata.nextLink"], headers={"Authorization": f"Bearer {token}", **headers}
        ).json()
        items += page["value"]
    return items, page["@odata.deltaLink"]


def test_delta_rounds(sim: SimHandle, token: str) -> None:
    ids = [sim.deliver(ADELE, sample_mail(subject=f"m{i}"))["id"] for i in range(5)]
    headers = {"Prefer": "odata.maxpagesize=2"}
    first = sim.graph("GET", DELTA, token, headers=headers, params={"$select": "subject,isRead"}).json()
    assert len(first["value"]) == 2 and "@odata.nextLink" in first and "@odata.deltaLink" not in first
    assert "$skiptoken=" in first["@odata.nextLink"]
    items, delta_link = _follow(sim, token, first, headers)
    assert sorted(i["id"] for i in items) == sorted(ids)
    assert set(items[0]) == {"@odata.type", "@odata.etag", "id", "subject", "isRead"}
    assert "$deltatoken=" in delta_link

    auth = {"Authorization": f"Bearer {token}"}
    assert sim.session.get(delta_link, headers=auth).json()["value"] == []  # nothing changed

    sim.graph("PATCH", f"/users/{ADELE}/messages/{ids[0]}", token, json={"isRead": True})
    sim.graph("DELETE", f"/users/{ADELE}/messages/{ids[1]}", token)  # to Deleted Items: out of Inbox
    sim.graph("POST", f"/users/{ADELE}/messages/{ids[2]}/move", token, json={"destinationId": "archive"})
    new = sim.deliver(ADELE, sample_mail(subject="new"))
    changes = sim.session.get(delta_link, headers=auth).json()
    by_id = {c["id"]: c for c in changes["value"]}
    assert by_id[ids[0]]["isRead"] is True and "@removed" not in by_id[ids[0]]
    assert by_id[ids[1]]["@removed"] == {"reason": "deleted"}
    assert by_id[ids[2]]["@removed"] == {"reason": "deleted"}
    assert by_id[new["id"]]["subject"] == "new"
    assert set(by_id) == {ids[0], ids[1], ids[2], new["id"]}
    assert set(by_id[new["id"]]) == {"@odata.type", "@odata.etag", "id", "subject", "isRead"}  # $select kept
    later = changes["@odata.deltaLink"]
    assert sim.session.get(later, headers=auth).json()["value"] == []


def test_delta_with_immutable_ids_and_change_type(sim: SimHandle, token: str) -> None:
    first = sim.deliver(ADELE, sample_mail(subject="a"))
    start = sim.graph("GET", DELTA, token, headers=IMMUTABLE, params={"changeType": "created"}).json()
    assert [i["id"] for i in start["value"]] == [first["immutableId"]]
    sim.graph("PATCH", f"/users/{ADELE}/messages/{first['id']}", token, json={"isRead": True})
    second = sim.deliver(ADELE, sample_mail(subject="b"))
    changes = sim.session.get(
        start["@odata.deltaLink"], headers={"Authorization": f"Bearer {token}", **IMMUTABLE}
    ).json()
    assert [i["id"] for i in changes["value"]] == [second["immutableId"]]  # the update is filtered out


def test_unknown_or_expired_token_is_410(sim: SimHandle, token: str) -> None:
    gone = sim.graph("GET", DELTA, token, params={"$deltatoken": "bogus"})
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
    link = sim.graph("GET", DELTA, token).json()["@odata.deltaLink"]
    sim.control("POST", "/delta/expire")
    expired = sim.session.get(link, headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 410


def test_delta_function_syntax(sim: SimHandle, token: str) -> None:
    sim.deliver(ADELE, sample_mail())
    response = sim.graph(
        "GET", f"/users/{ADELE}/mailFolders('inbox')/messages/microsoft.graph.delta()", token
    )
    assert response.status_code == 200 and len(response.json()["value"]) == 1
