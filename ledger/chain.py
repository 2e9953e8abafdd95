"""The hash chain over every stored event (RULES.md §9), written where events are written.

Entry n is the SHA-256 of entry n-1 (32 zero bytes before the first event) followed by event n's
position, stream id, version, topic and stored state, framed as :func:`entry` says (integrity
decision 1). Entries are kept in ``pbr_chain`` (position, hash), one row per event, inserted by the
store's recorder in the transaction that inserts the events, after them: on PostgreSQL the
recorder has then taken the events table's EXCLUSIVE lock, on SQLite the insert has made this
transaction the one writer, so no other writer can take a position between reading the last entry
and writing the next ones, however many write at once.

A ledger created before the chain existed has no ``pbr_chain`` table: the first open builds the
chain over its events, in one transaction, and says so once (:func:`build_if_missing`).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    inspect,
)

CHAIN_TABLE = "pbr_chain"
GENESIS = bytes(32)  # the entry before the first event

chain_metadata = MetaData()
chain = Table(
    CHAIN_TABLE, chain_metadata,
    # INTEGER on SQLite makes the position the table's rowid (no second index to keep).
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

_HEAD = struct.Struct(">Q16sQ")  # position, stream id (16 bytes), version
_sha256 = hashlib.sha256


def topic_part(topic: str) -> bytes:
    """A topic as it enters an entry: its UTF-8 length (4 bytes, big-endian), then its bytes."""
    encoded = topic.encode("utf-8")
    return len(encoded).to_bytes(4, "big") + encoded


def entry(previous: bytes, position: int, stream: bytes, version: int, topic: str,
          state: bytes) -> bytes:
    """Integrity decision 1: ``SHA-256(previous ‖ position ‖ stream ‖ version ‖ len(topic) ‖
    topic ‖ state)``, integers as 8 big-endian bytes, the stream id as its 16 bytes, the state
    exactly as stored (encrypted bytes when encryption is on), last so it needs no length."""
    return _sha256(previous + _HEAD.pack(position, stream, version) + topic_part(topic)
                   + state).digest()


def stream_bytes(value: UUID | bytes | memoryview) -> bytes:
    return value.bytes if isinstance(value, UUID) else bytes(value)


def last_entry(connection: Connection) -> tuple[int, bytes]:
    """The last entry: ``(position, hash)``, ``(0, GENESIS)`` on an empty chain."""
    row = connection.exec_driver_sql(
        f"SELECT position, hash FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1").first()
    return (0, GENESIS) if row is None else (int(row[0]), bytes(row[1]))


def entry_at(connection: Connection, position: int) -> bytes | None:
    row = connection.exec_driver_sql(
        f"SELECT hash FROM {CHAIN_TABLE} WHERE position = {int(position)}").first()
    return None if row is None else bytes(row[0])


def head_at(engine: Any, position: int) -> tuple[int, bytes] | None:
    """The entry at ``position`` (``(0, GENESIS)`` at 0), ``None`` if it has none."""
    if position == 0:
        return 0, GENESIS
    with engine.connect() as connection:
        found = entry_at(connection, position)
    return None if found is None else (position, found)


def entries(previous: bytes, positions: Sequence[int], stored_events: Sequence[StoredEvent],
            ) -> list[tuple[int, bytes]]:
    """The entries of events at ``positions``, chained on from ``previous``."""
    rows = []
    topics: dict[str, bytes] = {}
    streams: dict[UUID, bytes] = {}
    pack, join, sha256 = _HEAD.pack, b"".join, _sha256
    for position, event in zip(positions, stored_events, strict=True):
        topic = topics.get(event.topic)
        if topic is None:
            topic = topics[event.topic] = topic_part(event.topic)
        stream = streams.get(event.originator_id)
        if stream is None:
            stream = streams[event.originator_id] = event.originator_id.bytes
        previous = sha256(join((previous, pack(position, stream, event.originator_version),
                                topic, event.state))).digest()
        rows.append((position, previous))
    return rows


def extend(connection: Connection, stored_events: Sequence[StoredEvent],
           positions: Sequence[int],
           insert_rows: Callable[[Connection, Table, Sequence[str], Sequence[tuple]], None],
           ) -> None:
    """Chain events just inserted at ``positions`` (ascending, in the events' order), in the
    caller's transaction, after the last entry."""
    if not stored_events:
        return
    _, previous = last_entry(connection)
    insert_rows(connection, chain, ("position", "hash"),
                entries(previous, positions, stored_events))


def newest_positions(connection: Connection, events_table: str, count: int) -> list[int]:
    """The ``count`` highest event positions, ascending: the rows this transaction just inserted
    (no other writer can insert between the insert and the commit, see the module's words)."""
    if connection.dialect.name == "sqlite":
        # SQLite gives each new row the largest id plus one: one transaction's rows, inserted
        # together by the one writer, are the ``count`` ids up to the largest.
        newest = int(connection.exec_driver_sql(f"SELECT max(id) FROM {events_table}").scalar())
        return list(range(newest - count + 1, newest + 1))
    rows = connection.exec_driver_sql(
        f"SELECT id FROM {events_table} ORDER BY id DESC LIMIT {int(count)}").fetchall()
    return sorted(int(row[0]) for row in rows)


def build_if_missing(engine: Any, events_table: str, lock: Callable[[Connection], None],
                     say: Callable[[str], None]) -> int:
    """Integrity decision 5: a ledger with no chain table gets one, built over its events in one
    transaction; says so (once: the table exists afterwards). The number of events chained."""
    if inspect(engine).has_table(CHAIN_TABLE):
        return 0
    with engine.begin() as connection:
        lock(connection)
        if inspect(connection).has_table(CHAIN_TABLE):  # another process built it meanwhile
            return 0
        chain.create(connection)
        count = _chain_existing(connection, events_table)
    if count:
        say(f"built the integrity chain over the ledger's {count:,} existing events "
            "(first open since the chain was added; verify with pbr verify)")
    return count


def _chain_existing(connection: Connection, events_table: str) -> int:
    from ledger.store import insert_rows  # the store imports this module

    result = connection.exec_driver_sql(
        f"SELECT id, originator_id, originator_version, topic, state FROM {events_table} "
        "ORDER BY id")
    previous, count, pack = GENESIS, 0, _HEAD.pack
    topics: dict[str, bytes] = {}
    while page := result.fetchmany(10_000):
        rows = []
        for position, stream, version, topic, state in page:
            part = topics.get(topic)
            if part is None:
                part = topics[topic] = topic_part(topic)
            previous = _sha256(previous + pack(position, stream_bytes(stream), version) + part
                               + bytes(state)).digest()
            rows.append((position, previous))
        insert_rows(connection, chain, ("position", "hash"), rows)
        count += len(rows)
    return count
