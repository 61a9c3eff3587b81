"""The real msgraph-sdk (kiota) against the simulator over HTTPS."""

from __future__ import annotations

import asyncio

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody

from m365sim.testing import SimHandle

from .conftest import ADELE, LEGACY_APP, sample_mail

# msgraph-sdk's generated request builders warn about themselves when imported.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_graph_service_client_round_trip(sim: SimHandle) -> None:
    delivered = sim.deliver(ADELE, sample_mail())

    async def scenario() -> None:
        client, http = sim.graph_service_client()
        try:
            users = await client.users.get()
            assert users is not None and users.value
            assert ADELE in {u.user_principal_name for u in users.value}

            from msgraph.generated.users.item.messages.item.message_item_request_builder import (
                MessageItemRequestBuilder,
            )

            config = RequestConfiguration(
                query_parameters=MessageItemRequestBuilder.MessageItemRequestBuilderGetQueryParameters(
                    select=["subject", "internetMessageHeaders", "body"]
                )
            )
            item = client.users.by_user_id(ADELE).messages.by_message_id(delivered["id"])
            message = await item.get(request_configuration=config)
            assert message is not None and message.subject == "Quarterly invoice"
            assert any(h.name == "Authentication-Results" for h in message.internet_message_headers or [])

            patched = await item.patch(Message(categories=["TAP: Clean"]))
            assert patched is not None and patched.categories == ["TAP: Clean"]

            mime = await item.content.get()
            assert mime is not None and b"Quarterly invoice" in mime

            moved = await item.move.post(MovePostRequestBody(destination_id="archive"))
            assert moved is not None and moved.id != delivered["id"]

            inbox = client.users.by_user_id(ADELE).mail_folders.by_mail_folder_id("inbox")
            delta = await inbox.messages.delta.get()
            assert delta is not None and delta.odata_delta_link
        finally:
            await http.aclose()

    asyncio.run(scenario())


def test_sdk_surfaces_odata_errors(sim: SimHandle) -> None:
    delivered = sim.deliver(ADELE, sample_mail())

    async def scenario() -> None:
        client, http = sim.graph_service_client(app=LEGACY_APP, certificate=False)
        try:
            item = client.users.by_user_id(ADELE).messages.by_message_id(delivered["id"])
            with pytest.raises(ODataError) as caught:
                await item.patch(Message(subject="rewritten"))
            assert caught.value.response_status_code == 403
            assert caught.value.error is not None and caught.value.error.code == "ErrorAccessDenied"
        finally:
            await http.aclose()

    asyncio.run(scenario())


def test_sdk_with_certificate_credential(sim: SimHandle) -> None:
    async def scenario() -> None:
        client, http = sim.graph_service_client(tenant="fabrikam.test", certificate=True)
        try:
            users = await client.users.get()
            assert users is not None and {u.user_principal_name for u in users.value or []} == {
                "bob.smith@fabrikam.test",
                "carol.jones@fabrikam.test",
            }
        finally:
            await http.aclose()

    asyncio.run(scenario())
