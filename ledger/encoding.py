"""Writing record events in bulk: the library's stored event format, encoded from validated records.

The library stores an event as its topic and its state: the event object's attributes, less its
originator id and version, in the order its class declares them, encoded by the application's
transcoder. Import appends hundreds of thousands of records, so it does not build the event
objects: it encodes each record's fields in that order with the application's own transcoder (the
*body*) and puts in front of them the event's timestamp, taken then, as the library stamps an
event when it makes it; once per line, in import's workers for large files. The bytes are
exactly those the library's mapper writes for the same event; with a key (:mod:`ledger.cipher`)
they are then encrypted by the mapper's own cipher, as the mapper does, in the same place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring  # the string encoding of JSONEncoder(ensure_ascii=False)
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Mapper
from eventsourcing.utils import get_topic

from ledger.cipher import IndexForm
from ledger.events import RECORD_EVENTS, ClientHistory

# Set on the event, not taken from the record: the ids by the stream, the time by the clock.
_EVENT_OWN_FIELDS = ("originator_id", "originator_version", "timestamp", "originator_topic")


@dataclass(frozen=True)
class _EventLayout:
    """How the event of one record type is stored: its topic and the state's leading entries."""

    topic: str
    head: dict[str, str]  # the stream's class, on the event that creates the stream
    fields: tuple[str, ...]  # the record's fields, in the event class's order


def _layout(event_class: type) -> _EventLayout:
    names = [field.name for field in dataclasses.fields(event_class)]
    head = {"originator_topic": get_topic(ClientHistory)} if "originator_topic" in names else {}
    return _EventLayout(topic=get_topic(event_class), head=head,
                        fields=tuple(name for name in names if name not in _EVENT_OWN_FIELDS))


class RecordEventEncoder:
    """Encodes validated records as the stored events of their :mod:`ledger.events` classes."""

    def __init__(self, mapper: Mapper, index_form: IndexForm | None = None) -> None:
        if not isinstance(mapper.transcoder, JSONTranscoder) or mapper.compressor:
            raise TypeError("bulk encoding writes only JSON-transcoded, uncompressed events")
        self._transcoder = mapper.transcoder
        self._index_form = index_form
        self._encrypt = mapper.cipher.encrypt if mapper.cipher else None
        self._layouts = {kind: _layout(cls) for kind, cls in RECORD_EVENTS.items()}
        self._timestamps = mapper.transcoder.types[datetime]
        name = encode_basestring(self._timestamps.name)
        self._stamp_head = f'{{"timestamp":{{"_type_":{name},"_data_":'.encode()

    def topic(self, record_type: str) -> str:
        return self._layouts[record_type].topic

    def body(self, record: Any) -> bytes:
        """The record's event state without its timestamp: a JSON object of the event's fields."""
        layout = self._layouts[record.type]
        values = record.__dict__
        state = dict(layout.head)
        for name in layout.fields:
            state[name] = values[name]
        return self._transcoder.encode(state)

    def keyed(self, record: Any, content: str) -> tuple[str, str] | None:
        """The record's keyed source id and digest for an encrypted ledger's index (``None``
        without a key): computed with the body, in import's shaping workers."""
        if self._index_form is None:
            return None
        return self._index_form.keyed(record.source_id, record.client, content)

    def stored_state(self, record: Any) -> bytes:
        """The record's event state as stored, stamped now: the event is made here, where the
        line is shaped (import's workers, for a large file), as the library stamps an event
        when it makes it, before it is checked against its stream and appended (integrity
        decision 13)."""
        return self.state(self.body(record), RECORD_EVENTS[record.type].create_timestamp())

    def state(self, body: bytes, timestamp: datetime) -> bytes:
        """The stored state of an event: its timestamp, then the fields of ``body``.

        The timestamp comes first, as the event class declares it, written as the transcoder
        writes a transcoded object (``{"_type_": name, "_data_": text}``, compact, not ASCII
        escaped) with the transcoding the application registered for ``datetime``.
        """
        stamp = encode_basestring(self._timestamps.encode(timestamp))
        state = self._stamp_head + stamp.encode() + b"}," + body[1:]
        # With a key, the state is encrypted exactly as the library's mapper encrypts it.
        return state if self._encrypt is None else self._encrypt(state)
