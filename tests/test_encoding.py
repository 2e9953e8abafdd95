"""Import writes stored events encoded straight from records: byte for byte what the library's
own mapper writes for the same events, and read back by it as the same events."""

from __future__ import annotations

from ledger.encoding import RecordEventEncoder
from ledger.events import RECORD_EVENTS, ClientHistory
from ledger.records import event_fields, validate_record
from ledger.simulation import simulate
from ledger.store import Ledger


def _library_events(records: list) -> list:
    """The events the library's aggregate makes from the records, in order."""
    histories: dict[str, ClientHistory] = {}
    events = []
    for record in records:
        if record.type == "client_registered":
            histories[record.client] = ClientHistory(**event_fields(record))
        else:
            histories[record.client].trigger_event(RECORD_EVENTS[record.type],
                                                   **event_fields(record))
        events.extend(histories[record.client].collect_events())
    return events


def test_encoded_events_are_the_bytes_the_library_writes(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'pbr.db'}")
    try:
        records = [validate_record(data) for data in simulate(300, seed=3)]
        kinds = {record.type for record in records}
        assert kinds == set(RECORD_EVENTS), f"the sample lacks {set(RECORD_EVENTS) - kinds}"
        encoder = RecordEventEncoder(ledger.mapper)
        for record, event in zip(records, _library_events(records), strict=True):
            stored = ledger.mapper.to_stored_event(event)
            assert encoder.topic(record.type) == stored.topic
            assert encoder.state(encoder.body(record), event.timestamp) == stored.state, \
                record.source_id
            again = ledger.mapper.to_domain_event(stored)
            assert again == event
    finally:
        ledger.close()
