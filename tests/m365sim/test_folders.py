"""mailFolders: well-known names, hidden folders (only at creation), duplicates, childFolders."""

from __future__ import annotations

from m365sim.testing import SimHandle

from .conftest import ADELE, sample_mail

FOLDERS = f"/users/{ADELE}/mailFolders"


def test_well_known_folders_and_default_page(sim: SimHandle, token: str) -> None:
    page = sim.graph("GET", FOLDERS, token).json()
    names = [f["displayName"] for f in page["value"]]
    assert names[:4] == ["Inbox", "Drafts", "Sent Items", "Deleted Items"]
    assert "@odata.nextLink" not in page  # 8 well-known folders fit the default page of 10
    inbox = sim.graph("GET", f"{FOLDERS}/Inbox", token).json()
    assert inbox["displayName"] == "Inbox" and inbox["isHidden"] is False
    assert sim.graph("GET", f"{FOLDERS}/{inbox['id']}", token).json()["id"] == inbox["id"]
    assert sim.graph("GET", f"{FOLDERS}('inbox')", token).json()["id"] == inbox["id"]
    sim.deliver(ADELE, sample_mail())
    assert sim.graph("GET", f"{FOLDERS}/inbox", token).json()["unreadItemCount"] == 1


def test_hidden_folder_lifecycle(sim: SimHandle, token: str) -> None:
    created = sim.graph("POST", FOLDERS, token, json={"displayName": "TAP Quarantine", "isHidden": True})
    assert created.status_code == 201
    folder = created.json()
    assert folder["isHidden"] is True
    visible = [f["displayName"] for f in sim.graph("GET", FOLDERS, token).json()["value"]]
    assert "TAP Quarantine" not in visible
    with_hidden = sim.graph("GET", FOLDERS, token, params={"includeHiddenFolders": "true"}).json()["value"]
    assert "TAP Quarantine" in [f["displayName"] for f in with_hidden]
    assert sim.graph("GET", f"{FOLDERS}/{folder['id']}", token).json()["isHidden"] is True
    refused = sim.graph("PATCH", f"{FOLDERS}/{folder['id']}", token, json={"isHidden": False})
    assert refused.status_code == 400
    refused = sim.graph("PATCH", f"{FOLDERS}/inbox", token, json={"isHidden": True})
    assert refused.status_code == 400
    renamed = sim.graph("PATCH", f"{FOLDERS}/{folder['id']}", token, json={"displayName": "TAP Hold"})
    assert renamed.json()["displayName"] == "TAP Hold" and renamed.json()["isHidden"] is True
    hidden = [f for f in sim.mailbox(ADELE)["folders"] if f["isHidden"]]
    assert [f["displayName"] for f in hidden] == ["TAP Hold"]
    delivered = sim.deliver(ADELE, sample_mail())
    moved = sim.graph(
        "POST", f"/users/{ADELE}/messages/{delivered['id']}/move", token, json={"destinationId": folder["id"]}
    )
    assert moved.json()["parentFolderId"] == folder["id"]
    assert len(sim.graph("GET", f"{FOLDERS}/{folder['id']}/messages", token).json()["value"]) == 1


def test_duplicate_names_conflict(sim: SimHandle, token: str) -> None:
    assert sim.graph("POST", FOLDERS, token, json={"displayName": "Hold"}).status_code == 201
    duplicate = sim.graph("POST", FOLDERS, token, json={"displayName": "hold"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "ErrorFolderExists"
    inbox_child = sim.graph("POST", f"{FOLDERS}/inbox/childFolders", token, json={"displayName": "Hold"})
    assert inbox_child.status_code == 201  # another parent: allowed
    again = sim.graph("POST", f"{FOLDERS}/inbox/childFolders", token, json={"displayName": "Hold"})
    assert again.status_code == 409
    missing_name = sim.graph("POST", FOLDERS, token, json={"isHidden": True})
    assert missing_name.status_code == 400


def test_child_folders(sim: SimHandle, token: str) -> None:
    child = sim.graph(
        "POST", f"{FOLDERS}/inbox/childFolders", token, json={"displayName": "Secret", "isHidden": True}
    ).json()
    assert child["parentFolderId"] == sim.graph("GET", f"{FOLDERS}/inbox", token).json()["id"]
    assert sim.graph("GET", f"{FOLDERS}/inbox/childFolders", token).json()["value"] == []
    listed = sim.graph("GET", f"{FOLDERS}/inbox/childFolders", token, params={"includeHiddenFolders": "true"})
    assert [f["id"] for f in listed.json()["value"]] == [child["id"]]
    nested = sim.graph("GET", f"{FOLDERS}/inbox/childFolders/{child['id']}", token).json()
    assert nested["displayName"] == "Secret"
    assert (
        sim.graph("GET", f"{FOLDERS}/inbox/childFolders/{child['id']}/messages", token).json()["value"] == []
    )


def test_folder_permissions_and_distinguished_folders(sim: SimHandle, token: str) -> None:
    reader = sim.grant(["Mail.Read"]) and sim.token()
    assert sim.graph("GET", FOLDERS, reader).status_code == 200
    denied = sim.graph("POST", FOLDERS, reader, json={"displayName": "x"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorAccessDenied"
    assert sim.graph("DELETE", f"{FOLDERS}/inbox", token).status_code == 400
    made = sim.graph("POST", FOLDERS, token, json={"displayName": "Temp"}).json()
    assert sim.graph("DELETE", f"{FOLDERS}/{made['id']}", token).status_code == 204
    assert sim.graph("GET", f"{FOLDERS}/{made['id']}", token).status_code == 404
