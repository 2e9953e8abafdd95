"""Import writes stored events encoded straight from records: byte for byte what the library's
own mapper writes for the same events, and read back by it as the same events."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from eventsourcing.persistence import JSONTranscoder, Mapper, Transcoding

from ledger.codec import EventDecoder
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


def test_bulk_decoding_gives_the_objects_the_library_mapper_builds(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'pbr.db'}")
    try:
        records = [validate_record(data) for data in simulate(300, seed=3)]
        decoder = EventDecoder(ledger.mapper)
        for event in _library_events(records):
            stored = ledger.mapper.to_stored_event(event)
            decoded = decoder.decode(stored.topic, stored.originator_id.bytes,
                                     stored.originator_version, stored.state)
            library = ledger.mapper.to_domain_event(stored)
            assert type(decoded) is type(library) and decoded.__dict__ == library.__dict__
    finally:
        ledger.close()


class _Weeks(Transcoding):
    """A transcoding whose data is a number, not text."""

    type = timedelta
    name = "weeks"

    def encode(self, obj: timedelta) -> int:
        return obj.days // 7

    def decode(self, data: int) -> timedelta:
        return timedelta(weeks=data)


def test_bulk_decoding_revives_transcoded_values_whatever_their_data():
    transcoder = JSONTranscoder()
    transcoder.register(_Weeks())
    mapper = Mapper(transcoder=transcoder)
    state = transcoder.encode({"timestamp": None, "window": timedelta(weeks=3),
                               "windows": [timedelta(weeks=1)]})
    event = EventDecoder(mapper).decode("ledger.events:RecordEvent", uuid4(), 1, state)
    assert event.window == timedelta(weeks=3) and event.windows == [timedelta(weeks=1)]


def test_with_a_key_bulk_encoded_events_decrypt_to_the_library_bytes_and_decode_alike(tmp_path):
    from eventsourcing.cryptography import AESCipher
    from eventsourcing.utils import Environment

    from ledger.cipher import generate_key
    from tests.reliability.tamper import cipher_key

    key = generate_key()
    with cipher_key(key):
        ledger = Ledger(f"sqlite:///{tmp_path / 'pbr.db'}")
    try:
        library_cipher = AESCipher(Environment(env={"CIPHER_KEY": key}))
        records = [validate_record(data) for data in simulate(100, seed=3)]
        encoder, decoder = RecordEventEncoder(ledger.mapper), EventDecoder(ledger.mapper)
        for record, event in zip(records, _library_events(records), strict=True):
            stored = ledger.mapper.to_stored_event(event)
            sealed = encoder.state(encoder.body(record), event.timestamp)
            assert library_cipher.decrypt(sealed) == library_cipher.decrypt(stored.state)
            assert record.source_id.encode() not in sealed
            decoded = decoder.decode(stored.topic, stored.originator_id.bytes,
                                     stored.originator_version, sealed)
            assert decoded.__dict__ == ledger.mapper.to_domain_event(stored).__dict__
    finally:
        ledger.close()
