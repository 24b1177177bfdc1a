"""Bitmap decoding (§6.7), sandbox encoding round trips, and the echo filter (§8)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx2
from pubsub_helpers import Org
from starlette.applications import Starlette

from ml_connector.salesforce.pubsub import ChangeEvent, EventSchema, decode_bitmap, should_process
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.pubsub import EntityField, pubsub_control_routes
from ml_connector.sandbox.pubsub._schema import EventSchema as SandboxSchema


def _schema(top: int, compound_at: dict[int, int]) -> dict[str, Any]:
    """A schema with ``top`` fields f0..f{top-1}; fields in ``compound_at`` are records of n children."""
    fields: list[dict[str, Any]] = []
    for i in range(top):
        if i in compound_at:
            children = [{"name": f"c{j}", "type": ["null", "string"]} for j in range(compound_at[i])]
            fields.append(
                {"name": f"f{i}", "type": ["null", {"type": "record", "name": f"R{i}", "fields": children}]}
            )
        else:
            fields.append({"name": f"f{i}", "type": ["null", "string"]})
    return {"type": "record", "name": "X", "fields": fields}


def test_the_reference_bitmap_example_decodes_lsb_first_with_nested_parents() -> None:
    schema = _schema(32, {4: 6, 7: 4})
    names = decode_bitmap(schema, ["0x650004E0", "4-0x10", "7-0x06"])
    # 0x650004E0 = bits 5, 6, 7, 10, 24, 26, 29, 30
    assert names == ["f5", "f6", "f7", "f10", "f24", "f26", "f29", "f30", "f4.c4", "f7.c1", "f7.c2"]


def test_an_empty_bitmap_names_no_field() -> None:
    assert decode_bitmap(_schema(3, {}), []) == []
    assert decode_bitmap(_schema(3, {}), ["0x0"]) == []


def test_sandbox_bitmaps_decode_back_to_the_fields_that_changed() -> None:
    fields = [
        EntityField("Id", "id"),
        EntityField("Name", "string"),
        EntityField("BillingStreet", "textarea"),
        EntityField("BillingCity", "string"),
        EntityField("Phone", "phone"),
        EntityField("LastModifiedDate", "datetime"),
        EntityField("SystemModstamp", "datetime"),
    ]
    sandbox = SandboxSchema("Account", fields)
    subscriber = EventSchema.from_json(sandbox.schema_id, sandbox.schema_json)
    bitmap = sandbox.bitmap(["Phone", "BillingCity", "LastModifiedDate"])
    assert bitmap[0].startswith("0x") and bitmap[1].startswith("2-0x")
    assert set(subscriber.decode_bitmap(bitmap)) == {"Phone", "LastModifiedDate", "BillingAddress.City"}
    assert sandbox.bitmap(["SystemModstamp"]) == []  # never part of a change event


def _event(change_type: str = "UPDATE", origin: str = "", changed: tuple[str, ...] = ()) -> ChangeEvent:
    return ChangeEvent(
        entity="Account",
        change_type=change_type,
        record_ids=("001000000000001AAA",),
        changed_fields=changed,
        nulled_fields=(),
        diff_fields=(),
        change_origin=origin,
        commit_timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        commit_number=1,
        commit_user="005000000000001AAA",
        transaction_key="t",
        sequence_number=1,
        replay_id=b"r",
        schema_id="s",
    )


def test_own_writes_match_the_client_token_not_a_longer_one() -> None:
    assert _event(origin="com/salesforce/api/rest/62.0;client=ml-connector").is_own_write("ml-connector")
    assert _event(origin="com/salesforce/api/soap/61.0;client=ml-connector/").is_own_write("ml-connector")
    assert not _event(origin="com/salesforce/api/rest/62.0;client=ml-connector-2").is_own_write(
        "ml-connector"
    )
    assert not _event(origin="com/salesforce/api/rest/62.0").is_own_write("ml-connector")


def test_should_process_drops_echoes_and_updates_of_only_our_fields() -> None:
    ours = ("Acumatica_Credit_Limit__c", "Acumatica_AR_Balance__c")
    own = _event(origin="com/salesforce/api/rest/62.0;client=ml-connector", changed=("Name",))
    assert not should_process(own, "ml-connector", ours)
    only_ours = _event(changed=("Acumatica_Credit_Limit__c", "LastModifiedDate"))
    assert not should_process(only_ours, "ml-connector", ours)
    mixed = _event(changed=("Acumatica_Credit_Limit__c", "Phone", "LastModifiedDate"))
    assert should_process(mixed, "ml-connector", ours)
    assert should_process(_event("CREATE"), "ml-connector", ours)
    assert should_process(_event("GAP_UPDATE", origin="x;client=ml-connector"), "ml-connector", ours)


async def test_control_routes_inject_gap_and_overflow(org: Org) -> None:
    app = Starlette(routes=pubsub_control_routes(org.ps))
    async with httpx2.AsyncClient(transport=SandboxTransport(app), base_url="http://sandbox") as http:
        gap = await http.post("/_sandbox/pubsub/gap", json={"entity": "Contact", "record_ids": ["003x"]})
        assert gap.status_code == 200 and gap.json()["latest"] == 1
        overflow = await http.post("/_sandbox/pubsub/overflow", json={"entity": "Order"})
        assert overflow.status_code == 200 and overflow.json()["latest"] == 2
        bad = await http.post("/_sandbox/pubsub/overflow", json={"entity": "Product2"})
        assert bad.status_code == 400
        stats = await http.get("/_sandbox/pubsub/stats")
        assert stats.json()["events"] == 2
