"""The generated stubs import and match the reference §6.2 proto."""

from __future__ import annotations

from ml_connector.salesforce.pubsub import pubsub_api_pb2 as pb
from ml_connector.salesforce.pubsub import pubsub_api_pb2_grpc as pb_grpc


def test_generated_stubs_import_with_the_eventbus_v1_service() -> None:
    service = pb.DESCRIPTOR.services_by_name["PubSub"]
    assert service.full_name == "eventbus.v1.PubSub"
    assert {m.name for m in service.methods} == {
        "Subscribe",
        "GetSchema",
        "GetTopic",
        "Publish",
        "PublishStream",
        "ManagedSubscribe",
    }
    assert hasattr(pb_grpc, "PubSubStub") and hasattr(pb_grpc, "add_PubSubServicer_to_server")


def test_field_numbers_follow_the_reference() -> None:
    def numbers(message: str) -> dict[str, int]:
        return {f.name: f.number for f in pb.DESCRIPTOR.message_types_by_name[message].fields}

    assert numbers("FetchRequest") == {
        "topic_name": 1,
        "replay_preset": 2,
        "replay_id": 3,
        "num_requested": 4,
        "auth_refresh": 5,
    }
    assert numbers("FetchResponse") == {
        "events": 1,
        "latest_replay_id": 2,
        "rpc_id": 3,
        "pending_num_requested": 4,
    }
    assert numbers("ConsumerEvent") == {"event": 1, "replay_id": 2}
    assert numbers("ProducerEvent") == {"id": 1, "schema_id": 2, "payload": 3, "headers": 4}
    assert numbers("TopicInfo") == {
        "topic_name": 1,
        "tenant_guid": 2,
        "can_publish": 3,
        "can_subscribe": 4,
        "schema_id": 5,
        "rpc_id": 6,
    }
    assert numbers("CommitReplayResponse") == {
        "commit_request_id": 1,
        "replay_id": 2,
        "error": 3,
        "process_time": 4,
    }
    assert (pb.LATEST, pb.EARLIEST, pb.CUSTOM) == (0, 1, 2)
    assert (pb.UNKNOWN, pb.PUBLISH, pb.COMMIT) == (0, 1, 2)
