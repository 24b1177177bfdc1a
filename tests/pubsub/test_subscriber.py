"""CdcSubscriber against the Pub/Sub sandbox: events from real REST writes, auth, flow control, replay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from pubsub_helpers import API, OUR_CLIENT, Org, SubscriberFactory, wait_for

from ml_connector.errors import AuthError
from ml_connector.salesforce.pubsub import CdcBatch, CdcSubscriber, MemoryReplayStore, should_process
from ml_connector.sandbox.pubsub import PubSubSandbox


async def test_auth_refused_then_accepted_after_on_auth_refused_gives_a_fresh_token(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    harness = await start_subscriber(token="00Dx!not-a-session", wait_connected=False)
    await wait_for(lambda: harness.subscriber.connected)
    assert harness.auth_refusals == 1
    assert "UNAUTHENTICATED" in (harness.subscriber.last_error or "")
    status = harness.subscriber.status()
    assert status["connected"] is True and status["connected_since"] is not None
    assert "service.auth.error" in (harness.subscriber.last_error or "")
    await org.create("After Auth")
    (event,) = await harness.events(1)
    assert event.change_type == "CREATE"
    await wait_for(lambda: harness.subscriber.status()["last_event_at"] is not None)
    assert harness.subscriber.status()["last_replay_id"] == event.replay_id.hex()


async def test_rest_writes_arrive_as_events_with_the_right_header(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    harness = await start_subscriber()
    account_id = await org.create("Ridge Lumber", OUR_CLIENT, BillingCity="Denver", Phone="303-555-0100")
    (created,) = await harness.events(1)
    assert created.entity == "Account" and created.change_type == "CREATE"
    assert created.record_ids == (account_id,)
    assert created.change_origin == "com/salesforce/api/rest/62.0;client=ml-connector"
    assert created.is_own_write("ml-connector") and not created.is_own_write("someone-else")
    assert created.values["Name"] == "Ridge Lumber"
    assert created.values["BillingAddress"]["City"] == "Denver"
    assert created.changed_fields == ()  # §6.7: changedFields is for UPDATE only
    assert created.commit_user == org.sf.user_id and created.sequence_number == 1

    await org.update(account_id, Phone="303-555-0199", Fax=None, BillingCity="Boulder")
    (updated,) = await harness.events(1)
    assert updated.change_type == "UPDATE"
    assert set(updated.changed_fields) == {"Phone", "LastModifiedDate", "BillingAddress.City"}
    assert updated.nulled_fields == ()  # Fax was already null: not a change
    assert updated.change_origin == "com/salesforce/api/rest/62.0"
    assert not updated.is_own_write("ml-connector")
    assert updated.values["Phone"] == "303-555-0199"
    assert updated.values["Name"] is None  # unchanged fields are null on UPDATE
    assert updated.values["BillingAddress"] == {
        "Street": None,
        "City": "Boulder",
        "State": None,
        "PostalCode": None,
        "Country": None,
    }
    assert updated.commit_timestamp.year >= 2024 and updated.transaction_key != created.transaction_key

    await org.update(account_id, Phone=None)
    (nulled,) = await harness.events(1)
    assert set(nulled.changed_fields) == {"Phone", "LastModifiedDate"}
    assert nulled.nulled_fields == ("Phone",)


async def test_one_request_updating_three_records_is_one_merged_event(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    ids = [await org.create(f"Merge {n}") for n in range(3)]
    harness = await start_subscriber()
    response = await org.http.patch(
        f"{API}/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "id": i, "Acumatica_Status__c": "Credit Hold"}
                for i in ids
            ],
        },
        headers=org.auth(OUR_CLIENT),
    )
    assert response.status_code == 200, response.text
    (merged,) = await harness.events(1)
    assert merged.change_type == "UPDATE"
    assert sorted(merged.record_ids) == sorted(ids)
    assert set(merged.changed_fields) == {"Acumatica_Status__c", "LastModifiedDate"}
    assert merged.values["Acumatica_Status__c"] == "Credit Hold"
    assert merged.is_own_write("ml-connector")
    assert not should_process(merged, "ml-connector")
    assert harness.subscriber.schema_fetches == 1  # GetSchema once per schema id


async def test_flow_control_never_lets_the_server_run_ahead_of_the_handler(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    seen: list[tuple[int, int]] = []
    handled = 0

    async def slow_handler(batch: CdcBatch) -> None:
        nonlocal handled
        await asyncio.sleep(0.02)  # give a premature request time to be served
        seen.append((len(batch.events), org.ps.delivered - handled))
        handled += len(batch.events)

    harness = await start_subscriber(batch_size=2, handler=slow_handler)
    org.sf.insert_records("Account", [{"Name": f"Flow {n}"} for n in range(7)])
    events = await harness.events(7)
    assert len(events) == 7
    assert all(size <= 2 for size, _ in seen)
    # while a batch was being handled, the server had delivered only that batch
    assert all(outstanding == size for size, outstanding in seen)


async def test_replay_id_is_stored_only_after_the_handler_returned(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    store = MemoryReplayStore()
    calls = 0

    async def failing_once(batch: CdcBatch) -> None:
        nonlocal calls
        calls += 1
        saved_before = list(store.history)
        if calls == 1:
            raise RuntimeError("ledger unavailable")
        assert batch.replay_id not in saved_before

    harness = await start_subscriber(store=store, handler=failing_once)
    before = list(store.history)
    await org.create("Ledger Co")
    (event,) = await harness.events(1)  # delivered again after the failure
    assert calls == 2
    await wait_for(lambda: store.replay_id == event.replay_id)
    assert event.replay_id not in before
    assert "ledger unavailable" in (harness.subscriber.last_error or "")


async def test_expired_replay_id_runs_the_catch_up_then_continues_with_nothing_lost(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    store = MemoryReplayStore()
    first = await start_subscriber(store=store)
    await org.create("Seen Before Stop")
    await first.events(1)
    await first.stop()
    old_position = store.replay_id
    assert old_position is not None

    org.sf.insert_records("Account", [{"Name": f"While Away {n}"} for n in range(50)])
    org.sf.control.clock.advance(80 * 3600)

    during_catch_up: list[str] = []

    async def catch_up() -> None:
        # a change committed while the full SOQL catch-up runs must still be delivered afterwards
        during_catch_up.append(await org.create("Made During Catch-up"))

    second = await start_subscriber(store=store, on_replay_lost=catch_up, wait_connected=False)
    events = await second.events(1)
    assert [e.record_ids for e in events] == [(during_catch_up[0],)]
    assert second.subscriber.replay_losses == 1
    assert second.auth_refusals == 1  # the old session died with the 80 hours too
    assert store.replay_id != old_position
    await org.create("After Recovery")
    (after,) = await second.events(1)
    assert after.values["Name"] == "After Recovery"
    # the 50 purged changes never arrive as events: the catch-up is what covers them
    assert second.batches.empty()


async def test_the_subscriber_sees_invalid_argument_with_the_error_code_trailer(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    store = MemoryReplayStore(org.ps.bus.replay_id(0))
    await org.create("Purged")
    org.sf.control.clock.advance(73 * 3600)
    await org.new_token()
    lost: list[str] = []

    async def catch_up() -> None:
        lost.append(harness.subscriber.last_error or "")

    harness = await start_subscriber(store=store, on_replay_lost=catch_up, wait_connected=False)
    await wait_for(lambda: bool(lost))
    assert "INVALID_ARGUMENT" in lost[0]
    assert "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted" in lost[0]


async def test_gap_and_overflow_events_reach_the_handler_as_reread_and_resync(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    harness = await start_subscriber()
    ids = [await org.create(f"Gap {n}") for n in range(2)]
    await harness.events(2)
    org.ps.inject_gap("Account", ids)
    org.ps.inject_overflow("Order")
    events: list[Any] = []
    batches: list[CdcBatch] = []
    while len(events) < 2:
        batch = await harness.next_batch()
        batches.append(batch)
        events.extend(batch.events)
    rereads: dict[str, tuple[str, ...]] = {}
    resyncs: list[str] = []
    for batch in batches:
        rereads.update(batch.records_to_reread())
        resyncs.extend(batch.entities_to_resync())
        assert batch.changes == ()
    assert rereads == {"Account": tuple(ids)}
    assert resyncs == ["Order"]
    gap = events[0]
    assert gap.change_type == "GAP_UPDATE" and gap.change_origin == "" and gap.values["Name"] is None
    assert events[1].record_ids == ("000000000000000AAA",) and events[1].is_overflow


def test_tls_is_automatic_by_host() -> None:
    async def never() -> Any:
        raise AssertionError

    def make(endpoint: str, tls: bool | None = None) -> CdcSubscriber:
        return CdcSubscriber(
            endpoint=endpoint,
            token_provider=never,
            on_auth_refused=never,
            replay_store=MemoryReplayStore(),
            batch_handler=never,
            tls=tls,
        )

    assert make("api.pubsub.salesforce.com:7443").tls
    assert not make("127.0.0.1:50051").tls
    assert not make("localhost:7443").tls
    assert make("127.0.0.1:50051", tls=True).tls


async def test_activating_an_order_arrives_on_the_order_channel_with_status_changed(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    org.sf.seed(accounts=2, orders=2, activated_ratio=0.0)
    order = next(r for r in org.sf.records("Order") if r["Status"] == "Draft")
    harness = await start_subscriber(topic="/data/OrderChangeEvent")
    response = await org.http.patch(
        f"{API}/sobjects/Order/{order['Id']}", json={"Status": "Activated"}, headers=org.auth()
    )
    assert response.status_code == 204, response.text
    (activated,) = await harness.events(1)
    assert activated.entity == "Order" and activated.change_type == "UPDATE"
    assert activated.record_ids == (order["Id"],)
    assert {"Status", "StatusCode", "ActivatedDate", "ActivatedById"} <= set(activated.changed_fields)
    assert activated.values["Status"] == "Activated"
    assert activated.values["EffectiveDate"] is None  # unchanged
    activated_ms = activated.values["ActivatedDate"]
    assert isinstance(activated_ms, int)  # §6.6: dateTime as epoch milliseconds
    assert abs(activated_ms / 1000 - activated.commit_timestamp.timestamp()) < 1


async def test_stop_finishes_the_batch_in_flight_and_stores_its_position(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    store = MemoryReplayStore()
    entered, release = asyncio.Event(), asyncio.Event()

    async def blocking(batch: CdcBatch) -> None:
        entered.set()
        await release.wait()

    harness = await start_subscriber(store=store, handler=blocking)
    await org.create("In Flight")
    await asyncio.wait_for(entered.wait(), 5)
    await harness.subscriber.stop()
    assert harness.task is not None and not harness.task.done()
    release.set()
    await asyncio.wait_for(harness.task, 5)
    (event,) = (await harness.next_batch()).events
    assert store.replay_id == event.replay_id
    assert not harness.subscriber.connected


async def test_stop_while_waiting_for_events_ends_run_promptly(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    harness = await start_subscriber()
    await harness.subscriber.stop()
    assert harness.task is not None
    await asyncio.wait_for(harness.task, 2)
    assert harness.task.exception() is None


async def test_every_change_arrives_once_in_order_under_frequent_keep_alives(
    org: Org, start_subscriber: SubscriberFactory
) -> None:
    org.ps.keepalive_seconds = 0.002  # keep-alives racing the writes must never skip an event
    harness = await start_subscriber(batch_size=3)
    ids = []
    for n in range(40):
        ids.append(await org.create(f"Race {n}"))
        if n % 7 == 0:
            await asyncio.sleep(0.005)
    events = await harness.events(40)
    assert [e.record_ids[0] for e in events] == ids
    positions = [org.ps.bus.position_of(e.replay_id) for e in events]
    assert positions == sorted(set(positions))


async def test_fresh_tokens_refused_again_and_again_stop_run_with_auth_error(org: Org) -> None:
    refreshed = 0

    async def wrong_org() -> tuple[str, str, str]:
        return org.token, org.sf.base_url, "00D000000000000AAA"

    async def refresh() -> None:
        nonlocal refreshed
        refreshed += 1
        await org.new_token()

    async def handler(batch: CdcBatch) -> None:
        raise AssertionError("no event can arrive")

    subscriber = CdcSubscriber(
        endpoint=org.ps.endpoint,
        token_provider=wrong_org,
        on_auth_refused=refresh,
        replay_store=MemoryReplayStore(),
        batch_handler=handler,
        backoff_initial=0.01,
        backoff_max=0.02,
        max_auth_refusals=2,
    )
    with pytest.raises(AuthError) as caught:
        await asyncio.wait_for(subscriber.run(), 5)
    assert "tenantid" in str(caught.value)
    assert refreshed == 2


def _self_signed_localhost() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


async def test_tls_channel_subscribes_to_a_tls_endpoint(org: Org) -> None:
    cert, key = _self_signed_localhost()
    secure = PubSubSandbox(org.ps.source, keepalive_seconds=0.2)
    port = await secure.start("127.0.0.1", 0, tls_certificate_chain=cert, tls_private_key=key)
    received: asyncio.Queue[CdcBatch] = asyncio.Queue()
    store = MemoryReplayStore()

    async def tokens() -> tuple[str, str, str]:
        return org.token, org.sf.base_url, org.sf.org_id

    async def refused() -> None:
        raise AssertionError("token refused")

    async def handler(batch: CdcBatch) -> None:
        received.put_nowait(batch)

    subscriber = CdcSubscriber(
        endpoint=f"localhost:{port}",
        tls=True,
        channel_credentials=grpc.ssl_channel_credentials(root_certificates=cert),
        token_provider=tokens,
        on_auth_refused=refused,
        replay_store=store,
        batch_handler=handler,
    )
    task = asyncio.create_task(subscriber.run())
    try:
        await wait_for(lambda: store.replay_id is not None)
        await org.create("Over TLS")
        batch = await asyncio.wait_for(received.get(), 5)
        assert batch.events[0].values["Name"] == "Over TLS"
    finally:
        await subscriber.stop()
        await asyncio.wait_for(task, 5)
        await secure.stop()
