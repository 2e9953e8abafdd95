"""``pbr verify`` (RULES.md §9): the store holds what it held.

The chain is recomputed from the stored events, their bytes exactly as stored (so without the
key on an encrypted ledger), in one pass over a plain database cursor, and compared with the
stored entries; then every recorded run's lines are checked against the digest it recorded, and
the head it recorded against the chain (the runs need the key to be read: opened without it, an
encrypted ledger has its chain checked only, integrity decision 4). The first position where
they disagree is named with a reason (integrity decision 3):

- ``event_changed``: the event's bytes are not those its entry was computed over;
- ``chain_entry_changed``: the entry itself was changed (the next entry rests on another value);
- ``event_missing``: an entry with no event (deleted);
- ``event_inserted``: an event with no entry that the chain does not rest on (added);
- ``chain_entry_missing``: an event with no entry, which the next entry rests on (entry deleted);
- ``event_moved``: the event chained at this position is stored at another one;
- ``run_lines_changed``: a run whose lines no longer give the digest, or the totals, it
  recorded;
- ``run_head_differs``: a run whose recorded head is not the chain's entry at its position;
- with ``--at P --head H``: ``no_such_position`` (no event at P) and ``head_differs``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ledger.chain import _HEAD, CHAIN_TABLE, GENESIS, topic_part
from ledger.store import Ledger

FETCH = 20_000  # rows per fetch from the cursor

EVENT_CHANGED = "event_changed"
CHAIN_ENTRY_CHANGED = "chain_entry_changed"
EVENT_MISSING = "event_missing"
EVENT_INSERTED = "event_inserted"
CHAIN_ENTRY_MISSING = "chain_entry_missing"
EVENT_MOVED = "event_moved"
RUN_LINES_CHANGED = "run_lines_changed"
RUN_HEAD_DIFFERS = "run_head_differs"
NO_SUCH_POSITION = "no_such_position"
HEAD_DIFFERS = "head_differs"


@dataclass(frozen=True)
class Problem:
    position: int
    reason: str
    detail: str


@dataclass(frozen=True)
class Verification:
    events: int
    head: tuple[int, bytes]
    problem: Problem | None
    runs_checked: bool = True  # False: an encrypted ledger verified without its key

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_json(self) -> dict[str, Any]:
        problem = self.problem
        return {"ok": self.ok, "events": self.events,
                "head": {"position": self.head[0], "hash": self.head[1].hex()},
                "problem": None if problem is None else {
                    "position": problem.position, "reason": problem.reason,
                    "detail": problem.detail},
                "runs_checked": self.runs_checked}


# Reading -------------------------------------------------------------------------------------


class _Store:
    """Plain SQL over the ledger's database connection: the verifier's reads."""

    def __init__(self, ledger: Ledger, connection: Any) -> None:
        self.connection = connection
        self.events = ledger._events_table.fullname
        self.postgres = ledger.datastore.engine.dialect.name == "postgresql"
        # The stream id as its 16 bytes on both backends (PostgreSQL stores a uuid).
        self.stream = "uuid_send(e.originator_id)" if self.postgres else "e.originator_id"

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql.replace("?", "%s") if self.postgres else sql, params)
            return cursor.fetchall()
        finally:
            cursor.close()

    def scan(self, upto: int | None) -> Iterator[list[tuple]]:
        """Every event up to ``upto`` with its stored entry (``None`` if it has none), by
        position, a page at a time."""
        where = "" if upto is None else f"WHERE e.id <= {int(upto)}"
        sql = (f"SELECT e.id, {self.stream}, e.originator_version, e.topic, e.state, c.hash "
               f"FROM {self.events} e LEFT JOIN {CHAIN_TABLE} c ON c.position = e.id "
               f"{where} ORDER BY e.id")
        cursor = (self.connection.cursor(name="pbr_verify") if self.postgres
                  else self.connection.cursor())
        try:
            if self.postgres:
                cursor.itersize = FETCH
            cursor.execute(sql)
            while page := cursor.fetchmany(FETCH):
                yield page
        finally:
            cursor.close()

    def event(self, position: int) -> tuple | None:
        found = self.rows(f"SELECT e.id, {self.stream}, e.originator_version, e.topic, e.state "
                          f"FROM {self.events} e WHERE e.id = ?", position)
        return found[0] if found else None

    def entry(self, position: int) -> bytes | None:
        found = self.rows(f"SELECT hash FROM {CHAIN_TABLE} WHERE position = ?", position)
        return bytes(found[0][0]) if found else None

    def entry_before(self, position: int) -> tuple[int, bytes]:
        found = self.rows(f"SELECT position, hash FROM {CHAIN_TABLE} WHERE position < ? "
                          "ORDER BY position DESC LIMIT 1", position)
        return (int(found[0][0]), bytes(found[0][1])) if found else (0, GENESIS)

    def next_chained_event(self, position: int) -> tuple | None:
        """The first event after ``position`` that has an entry, with it."""
        found = self.rows(f"SELECT e.id, {self.stream}, e.originator_version, e.topic, e.state, "
                          f"c.hash FROM {self.events} e JOIN {CHAIN_TABLE} c "
                          "ON c.position = e.id WHERE e.id > ? ORDER BY e.id LIMIT 1", position)
        return found[0] if found else None

    def entries_counted(self, upto: int | None) -> int:
        where = "" if upto is None else f" WHERE position <= {int(upto)}"
        return int(self.rows(f"SELECT count(*) FROM {CHAIN_TABLE}{where}")[0][0])

    def events_counted(self, upto: int | None) -> int:
        where = "" if upto is None else f" WHERE id <= {int(upto)}"
        return int(self.rows(f"SELECT count(*) FROM {self.events}{where}")[0][0])

    def orphans(self, upto: int | None, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Entries with no event, by position."""
        bound = "" if upto is None else f" AND c.position <= {int(upto)}"
        return [(int(p), bytes(h)) for p, h in self.rows(
            f"SELECT c.position, c.hash FROM {CHAIN_TABLE} c LEFT JOIN {self.events} e "
            f"ON e.id = c.position WHERE e.id IS NULL{bound} ORDER BY c.position "
            f"LIMIT {int(limit)}")]


def _entry_of(previous: bytes, position: int, row: tuple) -> bytes:
    """The entry event ``row`` (position, stream, version, topic, state, …) would have at
    ``position`` after ``previous``."""
    _, stream, version, topic, state = row[:5]
    return hashlib.sha256(previous + _HEAD.pack(position, bytes(stream), version)
                          + topic_part(topic) + bytes(state)).digest()


# The pass ------------------------------------------------------------------------------------


@dataclass
class _Pass:
    events: int = 0
    last: tuple[int, bytes] = (0, GENESIS)  # the last entry verified
    bad: int | None = None  # the first event whose entry is absent or does not match


def _chain_pass(store: _Store, upto: int | None) -> _Pass:
    """One tight loop over every event: recompute its entry from the last one and compare."""
    result = _Pass()
    previous = GENESIS
    sha256, pack, join = hashlib.sha256, _HEAD.pack, b"".join
    parts: dict[str, bytes] = {}
    for page in store.scan(upto):
        for position, stream, version, topic, state, stored in page:
            try:
                part = parts[topic]
            except KeyError:
                part = parts[topic] = topic_part(topic)
            if sha256(join((previous, pack(position, stream, version), part, state))
                      ).digest() != stored:
                result.bad = position
                return result
            previous = stored
        result.events += len(page)
        result.last = (position, previous)
    return result


def verify(ledger: Ledger, at: int | None = None, head: str | None = None) -> Verification:
    """RULES.md §9: the first position where the store and its chain (or a run and its digest,
    or ``head`` at ``at``) disagree, or the head."""
    raw = ledger.datastore.engine.raw_connection()
    try:
        store = _Store(ledger, raw)
        found = _chain_pass(store, at)
        problem = _first_chain_problem(store, found, at)
        runs_checked = ledger.cipher is not None or not ledger.encrypted
        if problem is None and runs_checked:
            problem = _run_problem(ledger, store, found.last[0])
        if problem is None and at is not None:
            problem = _head_problem(store, at, head)
        events = found.events if problem is None else store.events_counted(at)
        # On a problem, the head is the last entry before it (the pass verified it).
        last = found.last if problem is None else store.entry_before(problem.position)
    finally:
        raw.rollback()
        raw.close()
    return Verification(events, last, problem, runs_checked)


def _first_chain_problem(store: _Store, found: _Pass, upto: int | None) -> Problem | None:
    orphan = None
    if found.bad is not None or store.entries_counted(upto) != found.events:
        orphans = store.orphans(upto, limit=1)
        orphan = orphans[0][0] if orphans else None
    if orphan is not None and (found.bad is None or orphan < found.bad):
        return _missing(store, orphan)
    if found.bad is None:
        return None
    row = store.event(found.bad)
    assert row is not None
    stored = store.entry(found.bad)
    return _unchained(store, row) if stored is None else _mismatch(store, row, stored)


def _find_chained_content(store: _Store, previous: bytes, position: int, wanted: bytes,
                          ) -> int | None:
    """The position of an event whose bytes give ``wanted`` at ``position`` after
    ``previous``: where the event chained there now is (a slow pass, only once a problem is
    found)."""
    for page in store.scan(None):
        for row in page:
            if row[0] != position and _entry_of(previous, position, row) == wanted:
                return int(row[0])
    return None


def _missing(store: _Store, position: int) -> Problem:
    _, previous = store.entry_before(position)
    wanted = store.entry(position)
    assert wanted is not None
    now_at = _find_chained_content(store, previous, position, wanted)
    if now_at is not None:
        return Problem(position, EVENT_MOVED, f"the event chained at position {position} is "
                                              f"stored at position {now_at}")
    return Problem(position, EVENT_MISSING, f"position {position} has a chain entry but no "
                                            "event: the event was deleted")


def _unchained(store: _Store, row: tuple) -> Problem:
    position = int(row[0])
    for orphan, wanted in store.orphans(None):
        _, previous = store.entry_before(orphan)
        if _entry_of(previous, orphan, row) == wanted:
            return Problem(position, EVENT_MOVED, f"the event at position {position} was "
                                                  f"chained at position {orphan}")
    _, previous = store.entry_before(position)
    candidate = _entry_of(previous, position, row)
    following = store.next_chained_event(position)
    if following is not None and _entry_of(candidate, int(following[0]), following) == \
            bytes(following[5]):
        return Problem(position, CHAIN_ENTRY_MISSING, f"the event at position {position} has "
                                                      "no chain entry, and the next entry "
                                                      "rests on it: its entry was deleted")
    return Problem(position, EVENT_INSERTED, f"the event at position {position} has no chain "
                                             "entry and the chain does not rest on it: it was "
                                             "added outside the ledger")


def _mismatch(store: _Store, row: tuple, stored: bytes) -> Problem:
    position = int(row[0])
    _, previous = store.entry_before(position)
    computed = _entry_of(previous, position, row)
    following = store.next_chained_event(position)
    if following is not None:
        after = bytes(following[5])
        if _entry_of(computed, int(following[0]), following) == after:
            return Problem(position, CHAIN_ENTRY_CHANGED, f"the chain entry at position "
                                                          f"{position} was changed; the event "
                                                          "and the next entry agree")
        rests_on_stored = _entry_of(stored, int(following[0]), following) == after
    else:
        rests_on_stored = False
    now_at = _find_chained_content(store, previous, position, stored)
    if now_at is not None:
        return Problem(position, EVENT_MOVED, f"the event chained at position {position} is "
                                              f"stored at position {now_at}")
    last = "" if rests_on_stored or following is not None else \
        " (the last entry: the event or its entry was changed)"
    return Problem(position, EVENT_CHANGED, f"the event at position {position} is not the "
                                            f"one its chain entry was computed over{last}")


def _run_problem(ledger: Ledger, store: _Store, upto: int) -> Problem | None:
    """Every recorded run up to ``upto``: its lines against its digest, its head against the
    chain."""
    from ledger.runs import recorded_run_positions, run_head, run_lines_hold

    for position, run in recorded_run_positions(ledger, upto):
        if isinstance(run, Exception):
            return Problem(position, RUN_LINES_CHANGED, f"the run at position {position} can "
                                                        f"no longer be read ({run})")
        if not run_lines_hold(run):
            return Problem(position, RUN_LINES_CHANGED,
                           f"run {run.run_id}'s lines no longer give the digest and totals "
                           "it recorded")
        recorded = run_head(run)
        if recorded is not None:
            entry = store.entry(recorded[0]) if recorded[0] else GENESIS
            if entry is None or entry.hex() != recorded[1]:
                return Problem(position, RUN_HEAD_DIFFERS,
                               f"run {run.run_id} rests on head {recorded[0]} {recorded[1]}, "
                               f"which the chain no longer has")
    return None


def _head_problem(store: _Store, at: int, head: str | None) -> Problem | None:
    stored = GENESIS if at == 0 else store.entry(at)
    if stored is None or (at and store.event(at) is None):
        return Problem(at, NO_SUCH_POSITION, f"position {at} holds no event of this ledger")
    if head is not None and stored.hex() != head.lower():
        return Problem(at, HEAD_DIFFERS, f"the ledger up to position {at} is not what it was "
                                         f"when head {head} was printed: its head there is "
                                         f"{stored.hex()}")
    return None
