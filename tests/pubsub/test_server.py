"""The Pub/Sub sandbox over a real loopback gRPC channel: auth, topics, schemas, flow control, replay."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest
from pubsub_helpers import OUR_CLIENT, Org, fetch

from ml_connector.salesforce.pubsub import error_code_of
from ml_connector.salesforce.pubsub import pubsub_api_pb2 as pb

CODE = "sfdc.platform.eventbus.grpc."


class Stream:
    """A raw Subscribe stream whose requests the test sends one by one."""

    def __init__(self, stub: Any, metadata: Any) -> None:
        self.requests: asyncio.Queue[Any] = asyncio.Queue()

        async def drain() -> Any:
            while (request := await self.requests.get()) is not None:
                yield request

        self.call = stub.Subscribe(drain(), metadata=metadata)

    def send(self, request: Any) -> None:
        self.requests.put_nowait(request)

    async def read(self, seconds: float = 5.0) -> Any:
        return await asyncio.wait_for(self.call.read(), seconds)

    def close(self) -> None:
        self.call.cancel()


async def error_of(stream: Stream) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        while True:
            await stream.read()
    return caught.value


async def test_an_unknown_token_is_refused_unauthenticated_with_the_auth_error_code(
    org: Org, stub: Any
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTopic(
            pb.TopicRequest(topic_name="/data/AccountChangeEvent"), metadata=org.metadata("00Dx!bogus")
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_code_of(caught.value) == CODE + "service.auth.error"
    assert "rpcId: " in (caught.value.details() or "")

    stream = Stream(stub, org.metadata("00Dx!bogus"))
    stream.send(fetch())
    error = await error_of(stream)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_code_of(error) == CODE + "service.auth.error"


async def test_a_token_idle_past_the_session_timeout_is_refused(org: Org, stub: Any) -> None:
    org.sf.control.clock.advance(org.sf.sessions.idle_timeout + 60)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTopic(pb.TopicRequest(topic_name="/data/ChangeEvents"), metadata=org.metadata())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_missing_tenant_metadata_is_refused_as_invalid_headers(org: Org, stub: Any) -> None:
    metadata = (("accesstoken", org.token), ("instanceurl", org.sf.base_url))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTopic(pb.TopicRequest(topic_name="/data/ChangeEvents"), metadata=metadata)
    assert error_code_of(caught.value) == CODE + "service.auth.headers.invalid"


async def test_get_topic_knows_the_three_entity_channels_and_change_events(org: Org, stub: Any) -> None:
    for topic in (
        "/data/AccountChangeEvent",
        "/data/ContactChangeEvent",
        "/data/OrderChangeEvent",
        "/data/ChangeEvents",
    ):
        info = await stub.GetTopic(pb.TopicRequest(topic_name=topic), metadata=org.metadata())
        assert info.topic_name == topic
        assert info.can_subscribe and not info.can_publish
        assert info.tenant_guid == org.sf.org_id
        assert info.schema_id and info.rpc_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTopic(pb.TopicRequest(topic_name="/data/accountchangeevent"), metadata=org.metadata())
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_code_of(caught.value) == CODE + "topic.not.found"


async def test_get_schema_returns_avro_json_with_the_change_event_header_first(org: Org, stub: Any) -> None:
    info = await stub.GetTopic(
        pb.TopicRequest(topic_name="/data/AccountChangeEvent"), metadata=org.metadata()
    )
    schema = await stub.GetSchema(pb.SchemaRequest(schema_id=info.schema_id), metadata=org.metadata())
    parsed = json.loads(schema.schema_json)
    assert (parsed["name"], parsed["namespace"], parsed["uuid"]) == (
        "AccountChangeEvent",
        "com.sforce.eventbus",
        info.schema_id,
    )
    header = parsed["fields"][0]
    assert header["name"] == "ChangeEventHeader"
    header_fields = {f["name"] for f in header["type"]["fields"]}
    assert {
        "entityName",
        "recordIds",
        "changeType",
        "changeOrigin",
        "transactionKey",
        "sequenceNumber",
        "commitTimestamp",
        "commitNumber",
        "commitUser",
        "nulledFields",
        "diffFields",
        "changedFields",
    } == header_fields
    names = [f["name"] for f in parsed["fields"]]
    assert "IsDeleted" not in names and "SystemModstamp" not in names
    assert "BillingAddress" in names and "BillingCity" not in names
    created = next(f for f in parsed["fields"] if f["name"] == "CreatedDate")
    assert created["type"] == ["null", "long"] and created["default"] is None


async def test_flow_control_delivers_no_more_than_requested(org: Org, stub: Any) -> None:
    stream = Stream(stub, org.metadata())
    stream.send(fetch(num=2))
    first = await stream.read()  # keep-alive: nothing yet, 2 owed
    assert not first.events and first.pending_num_requested == 2
    ids = [await org.create(f"Flow {n}") for n in range(5)]
    delivered: list[Any] = []
    while len(delivered) < 2:
        response = await stream.read()
        delivered.extend(response.events)
    assert len(delivered) == 2 and response.pending_num_requested == 0
    stream.send(fetch(num=1))
    third = await stream.read()
    while not third.events:
        third = await stream.read()
    assert len(third.events) == 1 and third.pending_num_requested == 0
    # the third event is the third create: the server held back what was not asked for
    assert (
        third.events[0].replay_id > delivered[-1].replay_id
        or third.events[0].replay_id != delivered[-1].replay_id
    )
    assert org.ps.delivered == 3
    assert len(ids) == 5
    stream.close()


async def test_num_requested_above_100_is_treated_as_100(org: Org, stub: Any) -> None:
    org.sf.insert_records("Account", [{"Name": f"Bulk {n}"} for n in range(120)])
    stream = Stream(stub, org.metadata())
    stream.send(fetch(num=150, preset=pb.EARLIEST))
    response = await stream.read()
    assert len(response.events) == 100
    assert response.pending_num_requested == 0
    stream.close()


async def test_num_requested_zero_is_refused(org: Org, stub: Any) -> None:
    stream = Stream(stub, org.metadata())
    stream.send(fetch(num=0))
    error = await error_of(stream)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code_of(error) == CODE + "subscription.fetch.requested.events.invalid"


async def test_changing_the_topic_mid_stream_is_refused(org: Org, stub: Any) -> None:
    stream = Stream(stub, org.metadata())
    stream.send(fetch("/data/AccountChangeEvent", num=1))
    assert not (await stream.read()).events
    stream.send(fetch("/data/OrderChangeEvent", num=1))
    error = await error_of(stream)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code_of(error) == CODE + "subscription.fetch.topic.mismatch"


async def test_keep_alive_carries_the_latest_replay_id_and_what_is_owed(org: Org, stub: Any) -> None:
    await org.create("Before")
    stream = Stream(stub, org.metadata())
    stream.send(fetch(num=7))
    keep_alive = await stream.read()
    assert list(keep_alive.events) == []
    assert keep_alive.pending_num_requested == 7
    assert org.ps.bus.position_of(keep_alive.latest_replay_id) == org.ps.bus.latest_position() == 1
    stream.close()


async def test_replay_ids_are_opaque_bytes_and_custom_starts_after_them(org: Org, stub: Any) -> None:
    for n in range(3):
        await org.create(f"Replay {n}")
    stream = Stream(stub, org.metadata())
    stream.send(fetch(num=10, preset=pb.EARLIEST))
    events = list((await stream.read()).events)
    stream.close()
    assert len(events) == 3
    first_id = events[0].replay_id
    assert len(first_id) == 24 and not first_id.isdigit() and first_id != b"1"

    again = Stream(stub, org.metadata())
    again.send(fetch(num=10, preset=pb.CUSTOM, replay_id=first_id))
    later = list((await again.read()).events)
    again.close()
    assert [e.replay_id for e in later] == [e.replay_id for e in events[1:]]


async def test_custom_replay_id_older_than_72_hours_is_corrupted(org: Org, stub: Any) -> None:
    await org.create("Old")
    stream = Stream(stub, org.metadata())
    stream.send(fetch(num=1, preset=pb.EARLIEST))
    old_id = (await stream.read()).events[0].replay_id
    stream.close()

    org.sf.control.clock.advance(71 * 3600)
    await org.new_token()
    still_valid = Stream(stub, org.metadata())
    still_valid.send(fetch(num=1, preset=pb.CUSTOM, replay_id=old_id))
    assert not (await still_valid.read()).events  # keep-alive: the id is accepted at 71 h
    still_valid.close()

    org.sf.control.clock.advance(2 * 3600)
    await org.new_token()
    expired = Stream(stub, org.metadata())
    expired.send(fetch(num=1, preset=pb.CUSTOM, replay_id=old_id))
    error = await error_of(expired)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code_of(error) == CODE + "subscription.fetch.replayid.corrupted"
    assert (error.details() or "").startswith("The Replay ID val")


async def test_a_forged_replay_id_is_corrupted_and_custom_without_one_is_invalid(org: Org, stub: Any) -> None:
    forged = Stream(stub, org.metadata())
    forged.send(fetch(num=1, preset=pb.CUSTOM, replay_id=(1).to_bytes(24, "big")))
    assert error_code_of(await error_of(forged)) == CODE + "subscription.fetch.replayid.corrupted"
    missing = Stream(stub, org.metadata())
    missing.send(fetch(num=1, preset=pb.CUSTOM))
    assert error_code_of(await error_of(missing)) == CODE + "subscription.fetch.replayid.validation.failed"


async def test_entity_topics_carry_only_their_entity(org: Org, stub: Any) -> None:
    account_id = await org.create("Topic Co")
    response = await org.http.post(
        "/services/data/v62.0/sobjects/Contact",
        json={"LastName": "Mason", "AccountId": account_id},
        headers=org.auth(OUR_CLIENT),
    )
    assert response.status_code == 201
    stream = Stream(stub, org.metadata())
    stream.send(fetch("/data/ContactChangeEvent", num=10, preset=pb.EARLIEST))
    events = list((await stream.read()).events)
    stream.close()
    assert len(events) == 1
    assert events[0].event.schema_id == org.ps.bus.schemas["Contact"].schema_id


async def test_a_stream_owed_nothing_and_asked_for_nothing_is_closed(org: Org, stub: Any) -> None:
    org.ps.idle_close_seconds = 0.2  # §6.3 says 60 s; shortened so the test stays fast
    await org.create("Only One")
    stream = Stream(stub, org.metadata())
    stream.send(fetch(num=1, preset=pb.EARLIEST))
    assert len((await stream.read()).events) == 1
    assert await stream.read(seconds=3) is grpc.aio.EOF
    assert await stream.call.code() == grpc.StatusCode.OK


async def test_the_daily_delivery_allocation_ends_the_stream_with_limit_exceeded(org: Org, stub: Any) -> None:
    org.ps.daily_delivery_limit = 3
    org.sf.insert_records("Account", [{"Name": f"Alloc {n}"} for n in range(5)])
    stream = Stream(stub, org.metadata())
    stream.send(fetch(num=10, preset=pb.EARLIEST))
    assert len((await stream.read()).events) == 3  # the allocation's remainder, no more
    error = await error_of(stream)
    assert error_code_of(error) == CODE + "subscription.limit.exceeded"
    assert "exceeded the event delivery limit" in (error.details() or "")

    org.sf.control.clock.advance(24 * 3600 + 1)  # rolling 24 h: the allocation recovers
    await org.new_token()
    again = Stream(stub, org.metadata())
    again.send(fetch(num=10, preset=pb.EARLIEST))
    assert len((await again.read()).events) == 3
    again.close()


async def test_a_sandbox_reset_empties_the_bus_and_voids_old_replay_ids(org: Org, stub: Any) -> None:
    await org.create("Before Reset")
    old_id = org.ps.bus.replay_id(org.ps.bus.latest_position())
    response = await org.http.post("/_sandbox/reset")
    assert response.status_code == 200
    assert org.ps.bus.latest_position() == 0
    await org.new_token()
    stream = Stream(stub, org.metadata())
    stream.send(fetch(num=1, preset=pb.CUSTOM, replay_id=old_id))
    assert error_code_of(await error_of(stream)) == CODE + "subscription.fetch.replayid.corrupted"
