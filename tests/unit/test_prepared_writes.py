"""The right code's write is prepared by hand (no pynamodb per request): what it stores must be what
pynamodb would store, so the audit trail reads back the same."""

from __future__ import annotations

from datetime import datetime

import pytest
from delivery_otp import audit
from delivery_otp.adapters.prepared import attribute_value
from delivery_otp.audit import COURIER, SYSTEM, Actor
from delivery_otp.model import DeliveryModel

AT = datetime.fromisoformat("2026-11-23T09:00:00+00:00")


@pytest.mark.parametrize(
    "actor", [Actor(COURIER, courier_id="c-17", device_id="d-9"), Actor(COURIER, device_id="d-9"), Actor(SYSTEM)]
)
@pytest.mark.parametrize(("issue_number", "outcome"), [(None, "ACCEPTED"), (3, "REJECTED"), (None, None)])
def test_an_audit_event_written_by_hand_is_stored_as_pynamodb_stores_it(actor, issue_number, outcome):
    by_hand = audit.fields("VERIFICATION", AT.isoformat(), actor, issue_number=issue_number, outcome=outcome)
    by_pynamodb = audit.event("VERIFICATION", AT, actor, issue_number=issue_number, outcome=outcome)
    assert attribute_value([by_hand]) == {"L": DeliveryModel.events.serialize([by_pynamodb])}


def test_plain_values_become_attribute_values():
    assert attribute_value("x") == {"S": "x"}
    assert attribute_value(True) == {"BOOL": True}
    assert attribute_value(1795424400) == {"N": "1795424400"}
    with pytest.raises(TypeError):
        attribute_value(1.5)


def test_an_event_is_one_compact_string_and_reads_back_whole():
    event = audit.event("VERIFICATION", AT, Actor(COURIER, courier_id="c-17", device_id="d-9"), outcome="ACCEPTED")
    (stored,) = DeliveryModel.events.serialize([event])
    assert stored == {"S": '["VERIFICATION","2026-11-23T09:00:00+00:00",null,"courier","c-17","d-9","ACCEPTED"]'}
    assert DeliveryModel.events.deserialize([stored]) == [event]
    bare = audit.event("REGISTERED", AT, Actor(SYSTEM))
    assert DeliveryModel.events.serialize([bare]) == [{"S": '["REGISTERED","2026-11-23T09:00:00+00:00",null,"system"]'}]
    assert DeliveryModel.events.deserialize(DeliveryModel.events.serialize([bare])) == [bare]


def test_a_trail_stored_as_maps_by_an_earlier_version_still_reads():
    legacy = {
        "M": {
            "type": {"S": "VERIFICATION"},
            "at": {"S": "2026-11-23T09:00:00+00:00"},
            "issue_number": {"N": "2"},
            "actor": {"M": {"kind": {"S": "courier"}, "device_id": {"S": "d-9"}}},
            "outcome": {"S": "REJECTED"},
        }
    }
    (event,) = DeliveryModel.events.deserialize([legacy])
    assert event == audit.event("VERIFICATION", AT, Actor(COURIER, device_id="d-9"), issue_number=2, outcome="REJECTED")
