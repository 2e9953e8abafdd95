"""Reading stored events in bulk: the library's event format, decoded without its per-object hook.

The library's mapper turns a stored event into a domain event by decoding its JSON state with a
Python hook called for every object, then building the event object from the state. Rebuilding
projections reads every event of the ledger, so this module does the same work in one pass: plain
``json.loads``, then only the values written as ``{"_type_": …, "_data_": …}`` are turned back
through the transcodings the application registered. The result is exactly the object the
library's mapper builds (same class, same ``__dict__``); event classes that declare a
``class_version`` (upcasting) are left to the library's mapper. An encrypted state (a key is set,
:mod:`ledger.cipher`) is decrypted first by the mapper's own cipher.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import resolve_topic


def stream_uuid(value: UUID | bytes | memoryview) -> UUID:
    """A stream id as read from the events table: a UUID already (PostgreSQL) or its 16 bytes
    (SQLite)."""
    return value if isinstance(value, UUID) else UUID(bytes=bytes(value))


class EventDecoder:
    """Decodes ``(topic, originator_id, originator_version, state)`` rows into domain events."""

    def __init__(self, mapper: Mapper) -> None:
        transcoder = mapper.transcoder
        if not isinstance(transcoder, JSONTranscoder) or mapper.compressor:
            raise TypeError("bulk decoding reads only JSON-transcoded, uncompressed events")
        self._mapper = mapper
        self.cipher = mapper.cipher
        self._decrypt = mapper.cipher.decrypt if mapper.cipher else None
        self._decoders: dict[str, Callable[[Any], Any]] = {
            name: transcoding.decode for name, transcoding in transcoder.names.items()}
        self._classes: dict[str, type | None] = {}

    def decode(self, topic: str, originator_id: UUID | bytes, originator_version: int,
               state: bytes | memoryview) -> Any:
        """The domain event of one stored row (``originator_id`` as UUID or its 16 bytes)."""
        cls = self._classes.get(topic, ...)
        if cls is ...:
            resolved = resolve_topic(topic)
            cls = None if getattr(resolved, "class_version", 1) != 1 else resolved
            self._classes[topic] = cls
        originator_id = stream_uuid(originator_id)
        if cls is None:
            return self._mapper.to_domain_event(StoredEvent(
                originator_id=originator_id, originator_version=originator_version,
                topic=topic, state=bytes(state)))
        if self._decrypt is not None:
            state = self._decrypt(bytes(state) if isinstance(state, memoryview) else state)
        data = json.loads(bytes(state) if isinstance(state, memoryview) else state)
        decoders = self._decoders
        for key, value in data.items():
            kind = type(value)
            if kind is dict:
                # The common case inline: a transcoded value of text (a date, a timestamp).
                inner = value.get("_data_")
                if type(inner) is str and len(value) == 2 and "_type_" in value:
                    data[key] = decoders[value["_type_"]](inner)
                else:
                    data[key] = self._revive(value)
            elif kind is list:
                data[key] = self._revive(value)
        data["originator_id"] = originator_id
        data["originator_version"] = originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", data)
        return event

    def _revive(self, value: Any) -> Any:
        """A JSON value with every transcoded object turned back, innermost first.

        Containers holding nothing transcoded are returned as they are, not copied.
        """
        if type(value) is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                data = value["_data_"]
                if type(data) is dict or type(data) is list:
                    data = self._revive(data)
                return self._decoders[value["_type_"]](data)
            for key, item in value.items():
                kind = type(item)
                if kind is dict or kind is list:
                    value[key] = self._revive(item)
            return value
        for index, item in enumerate(value):
            kind = type(item)
            if kind is dict or kind is list:
                value[index] = self._revive(item)
        return value
