"""Projection tables: outcome states, achieved entitlements and offending clocks, kept current.

The tables hold what the pure derivation gives for every client as of the projection's date D,
known on D (``pbr outcomes --as-of D``): ``pbr_outcome_states`` (one row per outcome of every
journey, and the cohort rows), ``pbr_entitlements`` (every achieved entitlement: an outcome or
one instalment), ``pbr_offending_clocks`` (one row per clock) and ``pbr_unruled_journeys``. Reports
and payment runs as of D on current knowledge read them instead of deriving every history again.

They are updated from the ledger's notification log. The position reached is kept by the
library's tracking recorder (table ``pbr_projection_tracking``), written in the same transaction
as the rows it covers, so each event is applied exactly once: a crash leaves the tables and the
position as they were before the transaction. A rebuild derives every client again (in worker
processes on a large file database); a catch-up re-derives only the clients with new records;
a newly published ruleset means a rebuild.
"""

from __future__ import annotations

import gc
import json
import marshal
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, create_engine
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from ledger.cipher import LedgerCipher
from ledger.codec import EventDecoder, stream_uuid
from ledger.locks import schema_transaction
from ledger.memory import cycle_collection_paused
from ledger.rulesets import Ruleset
from ledger.store import (
    RECORD_TOPIC_PREFIX,
    RECORD_TOPICS_LIKE,
    RULESET_TOPIC,
    Ledger,
    begin_with_ddl,
    insert_rows,
)
from projections.cohort import cohort_outcomes
from projections.history import build_history
from projections.model import History, OutcomeResult, Unruled
from projections.payments import Entitlement
from projections.views import (
    CLOCK_COLUMNS,
    ENTITLEMENT_COLUMNS,
    JOURNEY_COLUMNS,
    OUTCOME_COLUMNS,
    UNIT_COLUMNS,
    UNRULED_COLUMNS,
    Rows,
    client_rows,
    cohort_rows,
    entitlement_from_row,
    result_from_row,
    unruled_from_row,
)

TRACKED_APPLICATION = "ledger"
PARALLEL_FROM_EVENTS = 50_000  # below this a rebuild derives in this process
SHARDS = 64  # ranges of stream ids a parallel rebuild hands out to its workers
PAGE = 20_000  # notifications applied per catch-up transaction

views_metadata = MetaData()


def _text_columns(names: Sequence[str], integers: Sequence[str] = ()) -> list[Column]:
    return [Column(name, Integer if name in integers else Text) for name in names]


outcome_states = Table("pbr_outcome_states", views_metadata,
                       *_text_columns(OUTCOME_COLUMNS, ("seq", "cycle")))
entitlements = Table("pbr_entitlements", views_metadata,
                     *_text_columns(ENTITLEMENT_COLUMNS, ("instalment",)))
offending_clocks = Table("pbr_offending_clocks", views_metadata,
                         *_text_columns(CLOCK_COLUMNS, ("resets",)))
unruled_journeys = Table("pbr_unruled_journeys", views_metadata,
                         *_text_columns(UNRULED_COLUMNS))
journey_profiles = Table("pbr_journey_profiles", views_metadata,
                         *_text_columns(JOURNEY_COLUMNS, ("offended_before", "injecting",
                                                          "housing_problem", "lasars_band")))
forecast_units = Table("pbr_forecast_units", views_metadata,
                       *_text_columns(UNIT_COLUMNS, ("instalment",)))
DATA_TABLES = (outcome_states, entitlements, offending_clocks, unruled_journeys,
               journey_profiles, forecast_units)
# Created after a rebuild's bulk load, which is faster than keeping them up to date row by row.
CLIENT_INDEXES = tuple(Index(f"{table.name}_client_idx", table.c.client) for table in DATA_TABLES)

projection_state = Table(
    "pbr_projection", views_metadata,
    Column("name", String(40), primary_key=True),
    Column("as_of", String(10), nullable=False),
    Column("rulesets", Text, nullable=False),
    Column("rebuilt_through", Integer, nullable=False),
)
PROJECTION = "outcomes"
# Written by every rebuild since the journey profiles and forecast units were added: a
# projection built before has those tables empty, and they answer only once rebuilt.
COMMISSIONING = "commissioning"


class ProjectionMissing(LookupError):
    """No projection has been built in this ledger yet."""


@dataclass(frozen=True)
class Status:
    """Where the projection stands against the ledger."""

    as_of: date
    rulesets: list[str]
    position: int
    head: int
    rebuilt_through: int
    clients: int
    outcomes: int
    entitlements: int
    clocks: int

    @property
    def behind(self) -> int:
        return self.head - self.position


class Projection:
    """The projection tables of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.datastore = ledger.datastore
        self.tracking = SQLAlchemyTrackingRecorder(
            datastore=self.datastore, tracking_table_name="pbr_projection_tracking")
        tables = [*self.tracking.tables, self.tracking.tracking_table,
                  *views_metadata.sorted_tables]
        present = inspect(self.datastore.engine)
        if not all(present.has_table(table.name) for table in tables):
            with schema_transaction(self.datastore.engine) as connection:  # see ledger.locks
                for table in tables:
                    table.create(connection, checkfirst=True)
        self.decoder = EventDecoder(ledger.mapper)
        self.cipher: LedgerCipher | None = ledger.cipher

    @classmethod
    def existing(cls, ledger: Ledger) -> Projection | None:
        """The ledger's projection if one has been built, without creating any table."""
        if not inspect(ledger.datastore.engine).has_table(projection_state.name):
            return None
        projection = cls(ledger)
        return projection if projection.as_of() is not None else None

    # State --------------------------------------------------------------------------------

    def _state(self) -> Any:
        with self.datastore.transaction(commit=False) as session:
            return session.execute(select(projection_state).where(
                projection_state.c.name == PROJECTION)).first()

    def position(self) -> int:
        return self.tracking.max_tracking_id(TRACKED_APPLICATION) or 0

    def as_of(self) -> date | None:
        state = self._state()
        return None if state is None else date.fromisoformat(state.as_of)

    def status(self) -> Status:
        state = self._state()
        if state is None:
            raise ProjectionMissing("no projection has been built: run `pbr projections rebuild`")
        with self.datastore.transaction(commit=False) as session:
            def count(what: str, table: str) -> int:
                return int(session.execute(text(f"SELECT {what} FROM {table}")).scalar() or 0)
            clients = count("count(DISTINCT client)", "pbr_outcome_states")
            outcomes = count("count(*)", "pbr_outcome_states")
            achieved = count("count(*)", "pbr_entitlements")
            clocks = count("count(*)", "pbr_offending_clocks")
        return Status(date.fromisoformat(state.as_of), state.rulesets.split(",") if
                      state.rulesets else [], self.position(), self.ledger.max_position(),
                      state.rebuilt_through, clients, outcomes, achieved, clocks)

    # Rebuild ------------------------------------------------------------------------------

    @cycle_collection_paused()
    def rebuild(self, as_of: date, progress: Callable[[int, int], None] | None = None,
                workers: int | None = None) -> int:
        """Derive every client again as of ``as_of``; the position reached.

        The old rows, the new rows and the new position change in one transaction.
        """
        head = self.ledger.max_position()
        rulesets = self.ledger.rulesets()
        total = self._record_events(head)
        workers = workers or worker_count()
        parallel = self._can_fork() and total >= PARALLEL_FROM_EVENTS and workers > 1
        shards = stream_shards(SHARDS if parallel else 1)
        done = 0
        # The workers are forked before the transaction opens, so none inherits it.
        with (self._workers(workers) if parallel else nullcontext()) as pool, \
                self.datastore.transaction(commit=True) as session:
            connection = session.connection()
            begin_with_ddl(connection)  # the tables are dropped and made again in it
            for table in DATA_TABLES:
                table.drop(connection, checkfirst=True)
                connection.execute(CreateTable(table))  # its index comes after the load
            histories_for_cohorts: list[History] = []
            keep = _uses_cohorts(rulesets)
            for shard_rows, shard_events, histories in self._derive_shards(
                    shards, head, as_of, rulesets, keep, pool):
                _insert_rows(connection, shard_rows)
                histories_for_cohorts += histories
                done += shard_events
                if progress:
                    progress(done, total)
            if keep:
                _insert_rows(connection, seal_rows(cohort_rows(
                    cohort_outcomes(histories_for_cohorts, rulesets, as_of)), self.cipher))
            for index in CLIENT_INDEXES:
                index.create(connection)
            session.execute(delete(projection_state))
            session.execute(projection_state.insert().values(
                name=PROJECTION, as_of=as_of.isoformat(),
                rulesets=",".join(sorted(r.id for r in rulesets)), rebuilt_through=head))
            if self.cipher is None:  # see seal_rows
                session.execute(projection_state.insert().values(
                    name=COMMISSIONING, as_of=as_of.isoformat(),
                    rulesets=",".join(sorted(r.id for r in rulesets)), rebuilt_through=head))
            self._track(session, head)
        return head

    def _can_fork(self) -> bool:
        url = self.datastore.engine.url
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        return not in_memory and "fork" in multiprocessing.get_all_start_methods()

    def _record_events(self, head: int) -> int:
        with self.datastore.transaction(commit=False) as session:
            return int(session.execute(text(
                "SELECT count(*) FROM ledger_events WHERE id <= :head AND topic LIKE :records"),
                {"head": head, "records": RECORD_TOPICS_LIKE}).scalar() or 0)

    def _workers(self, workers: int) -> Any:
        """A pool of forked rebuild workers; they inherit the decoder and open their own
        connections by URL."""
        _inherited.clear()
        _inherited.update(url=self.datastore.engine.url.render_as_string(hide_password=False),
                          decoder=self.decoder)
        return multiprocessing.get_context("fork").Pool(workers, initializer=_default_terminate)

    def _derive_shards(self, shards: list[tuple[UUID, UUID | None]], head: int, as_of: date,
                       rulesets: list[Ruleset], keep_histories: bool, pool: Any,
                       ) -> Iterator[tuple[Rows, int, list[History]]]:
        """Each shard's rows, events read and kept histories: in the pool's workers as they
        finish, or in this process when there is no pool."""
        jobs = [(lo, hi, head, as_of, rulesets, keep_histories) for lo, hi in shards]
        if pool is None:
            for job in jobs:
                yield _derive_shard_with(self._read_streams, self.decoder, *job)
            return
        for packed, events_read, histories in pool.imap_unordered(_derive_shard_in_worker, jobs):
            yield Rows(*marshal.loads(packed)), events_read, histories

    def _read_streams(self, lo: UUID, hi: UUID | None, head: int) -> Iterator[tuple]:
        with self.datastore.transaction(commit=False) as session:
            yield from stream_rows(session.connection(), lo, hi, head)

    # Catch-up -----------------------------------------------------------------------------

    @cycle_collection_paused()
    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Apply what was recorded since the position; the position reached.

        Each page of the log is one transaction: the re-derived clients' rows and the page's
        last position. A ruleset published since means every client again (a rebuild).
        """
        state = self._state()
        if state is None:
            raise ProjectionMissing("no projection has been built: run `pbr projections rebuild`")
        as_of = date.fromisoformat(state.as_of)
        position, head = self.position(), self.ledger.max_position()
        start = position
        while position < head:
            end = min(position + PAGE, head)
            topics, clients = self._changes(position, end)
            if RULESET_TOPIC in topics:
                return self.rebuild(as_of)
            self._apply(clients, end, as_of)
            position = end
            if progress:
                progress(position - start, head - start)
        return position

    def _changes(self, after: int, end: int) -> tuple[set[str], set[UUID]]:
        with self.datastore.transaction(commit=False) as session:
            rows = session.connection().exec_driver_sql(
                _driver_sql(session, "SELECT topic, originator_id FROM ledger_events "
                                     "WHERE id > ? AND id <= ?"), (after, end))
            topics: set[str] = set()
            streams: set[UUID] = set()
            for topic, originator_id in rows:
                topics.add(topic)
                if topic.startswith(RECORD_TOPIC_PREFIX):
                    streams.add(stream_uuid(originator_id))
        return topics, streams

    def _apply(self, streams: set[UUID], end: int, as_of: date) -> None:
        rulesets = self.ledger.rulesets()
        with self.datastore.transaction(commit=True) as session:
            connection = session.connection()
            rows = Rows()
            clients: set[str] = set()
            for events in group_streams(self.decoder, _streams_rows(connection, streams, end)):
                clients.add(events[0].client)
                history = build_history(events, as_of, as_of)
                if history is not None:
                    rows.extend(client_rows(history, rulesets, self.cipher is None))
            for table in DATA_TABLES:
                for chunk in _chunks(sorted(clients), 500):
                    session.execute(delete(table).where(table.c.client.in_(chunk)))
            if _uses_cohorts(rulesets):
                session.execute(delete(outcome_states).where(outcome_states.c.client.is_(None)))
                session.execute(delete(entitlements).where(entitlements.c.client.is_(None)))
                rows.extend(cohort_rows(self._cohorts(connection, end, as_of, rulesets)))
            _insert_rows(connection, seal_rows(rows, self.cipher))
            self._track(session, end)

    def _cohorts(self, connection: Connection, end: int, as_of: date,
                 rulesets: list[Ruleset]) -> list[OutcomeResult]:
        """Cohort outcomes measure every member journey: every history, again."""
        histories = [history for events in group_streams(
            self.decoder, stream_rows(connection, UUID(int=0), None, end))
            if (history := build_history(events, as_of, as_of)) is not None]
        return cohort_outcomes(histories, rulesets, as_of)

    def _track(self, session: Session, position: int) -> None:
        """Record the position reached, in the caller's transaction (the library's recorder)."""
        table = self.tracking.tracking_table
        session.execute(delete(table).where(table.c.application_name == TRACKED_APPLICATION))
        self.tracking._insert_tracking(session, Tracking(TRACKED_APPLICATION, position))

    # Reading ------------------------------------------------------------------------------

    def has_commissioning_rows(self) -> bool:
        """Whether the journey profiles and forecast units were built with the other tables."""
        with self.datastore.transaction(commit=False) as session:
            return session.execute(select(projection_state.c.name).where(
                projection_state.c.name == COMMISSIONING)).first() is not None

    def serves(self, as_of: date, known_on: date) -> bool:
        """Whether the tables answer for E and K: the projection's date, on current knowledge.

        Catches up first, so what they answer is what the ledger holds now.
        """
        projected = self.as_of()
        if projected is None or not as_of == known_on == projected:
            return False
        self.catch_up()
        return True

    def outcomes(self) -> tuple[list[OutcomeResult], list[Unruled]]:
        """Every outcome row in derivation order (clients by id, then the cohort rows)."""
        with self.datastore.transaction(commit=False) as session:
            columns = [outcome_states.c[name] for name in OUTCOME_COLUMNS]
            query = select(*columns).order_by(outcome_states.c.client.is_(None),
                                              outcome_states.c.client, outcome_states.c.seq)
            results = [result_from_row(open_row(row, OUTCOME_SEALED, self.cipher))
                       for row in session.execute(query)]
            unruled = [unruled_from_row(row) for row in session.execute(
                select(unruled_journeys))]
        # Client ids in Python's order, as the derivation sorts them, not the database's
        # collation (PostgreSQL's may order mixed case or punctuation otherwise); the sort is
        # stable, so each client's rows keep their seq order.
        results.sort(key=lambda result: (result.client is None, result.client or ""))
        unruled.sort(key=lambda u: (u.client, u.started_on, u.journey))
        return results, unruled

    def entitlements(self, as_of: date, clawback: dict[str, bool]) -> list[Entitlement]:
        """Every achieved entitlement, with what is payable for it as of E."""
        with self.datastore.transaction(commit=False) as session:
            columns = [entitlements.c[name] for name in ENTITLEMENT_COLUMNS]
            return [entitlement_from_row(open_row(row, ENTITLEMENT_SEALED, self.cipher), as_of,
                                         clawback.get(row.ruleset, True))
                    for row in session.execute(select(*columns))]

    def outcome_rows(self, keys: Sequence[tuple]) -> list[OutcomeResult]:
        """The outcome rows of ``(client, journey, outcome)`` keys (clients' own rows)."""
        wanted = {key[:3] for key in keys}
        found: list[OutcomeResult] = []
        clients = sorted({key[0] for key in wanted if key[0] is not None})
        with self.datastore.transaction(commit=False) as session:
            columns = [outcome_states.c[name] for name in OUTCOME_COLUMNS]
            for chunk in _chunks(clients, 500):
                for row in session.execute(select(*columns).where(
                        outcome_states.c.client.in_(chunk))):
                    result = result_from_row(open_row(row, OUTCOME_SEALED, self.cipher))
                    if (result.client, result.journey, result.outcome) in wanted:
                        found.append(result)
            if any(key[0] is None for key in wanted):
                for row in session.execute(select(*columns).where(
                        outcome_states.c.client.is_(None))):
                    found.append(result_from_row(open_row(row, OUTCOME_SEALED, self.cipher)))
        return found


# Rows in and out ----------------------------------------------------------------------------


def _driver_sql(session_or_connection: Any, sql: str) -> str:
    """``sql`` with ``?`` placeholders in the driver's own parameter style."""
    connection = session_or_connection
    if isinstance(connection, Session):
        connection = connection.connection()
    if connection.dialect.paramstyle == "qmark":
        return sql
    return sql.replace("%", "%%").replace("?", "%s")


# RULES.md §9: the cells that may tell a substance, a TOP score, an offence or a disposal (the
# reason codes, such as offence_in_window, the explanations, the instalments with theirs, a
# clock's starts) are encrypted under the ledger's key; ids, statuses, outcome dates and amounts
# stay as they are.
OUTCOME_SEALED = tuple(OUTCOME_COLUMNS.index(name)
                       for name in ("reason", "explanation", "instalments"))
ENTITLEMENT_SEALED = (ENTITLEMENT_COLUMNS.index("explanation"),)
CLOCK_SEALED = tuple(CLOCK_COLUMNS.index(name) for name in ("reason", "starts", "explanation"))


def seal_rows(rows: Rows, cipher: LedgerCipher | None) -> Rows:
    """``rows`` with their sensitive cells encrypted (as they are, without a key).

    A row's sensitive cells are encrypted together, once (a JSON list of them, in the first
    such column; the others left null): one encryption per row, not one per cell.
    """
    if cipher is None:
        return rows
    seal = cipher.seal_text
    # The journey profiles (substance group, offending before the start) and the forecast
    # units are grouped and summed in SQL, which sealed cells would defeat: an encrypted ledger
    # keeps neither, and compare and forecast derive from the store instead (integrity.md
    # decision 12).
    return Rows([_sealed(row, OUTCOME_SEALED, seal) for row in rows.outcomes],
                [_sealed(row, ENTITLEMENT_SEALED, seal) for row in rows.entitlements],
                [_sealed(row, CLOCK_SEALED, seal) for row in rows.clocks],
                rows.unruled)


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _sealed(row: tuple, indexes: tuple[int, ...], seal: Callable[[str], str | None]) -> tuple:
    cells = list(row)
    cells[indexes[0]] = seal(_dumps([cells[index] for index in indexes]))
    for index in indexes[1:]:
        cells[index] = None
    return tuple(cells)


def open_row(row: Sequence[Any], indexes: tuple[int, ...], cipher: LedgerCipher | None,
             ) -> Sequence[Any]:
    """A row read back, its sealed cells decrypted."""
    if cipher is None:
        return row
    cells = list(row)
    for index, value in zip(indexes, json.loads(cipher.open_text(cells[indexes[0]]) or "null"),
                            strict=True):
        cells[index] = value
    return cells


def _insert_rows(connection: Connection, rows: Rows) -> None:
    """Bulk insert through the driver: one ``executemany`` per table."""
    for table, columns, values in (
            (outcome_states, OUTCOME_COLUMNS, rows.outcomes),
            (entitlements, ENTITLEMENT_COLUMNS, rows.entitlements),
            (offending_clocks, CLOCK_COLUMNS, rows.clocks),
            (unruled_journeys, UNRULED_COLUMNS, rows.unruled),
            (journey_profiles, JOURNEY_COLUMNS, rows.journeys),
            (forecast_units, UNIT_COLUMNS, rows.units)):
        if values:
            insert_rows(connection, table, columns, values)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def stream_shards(count: int) -> list[tuple[UUID, UUID | None]]:
    """``count`` ranges covering every stream id, by their leading bits."""
    step = (1 << 128) // count
    bounds = [UUID(int=step * n) for n in range(count)]
    return [(lo, bounds[n + 1] if n + 1 < count else None) for n, lo in enumerate(bounds)]


def _uuid_param(connection: Connection, value: UUID) -> Any:
    return value.bytes if connection.dialect.name == "sqlite" else value


def stream_rows(connection: Connection, lo: UUID, hi: UUID | None, head: int,
                without: Sequence[str] = ()) -> Iterator[tuple]:
    """The record events of the streams with ids in ``[lo, hi)``, stream by stream, in order;
    less the events of the topics ``without`` names (a reader that never looks at them)."""
    skip = "".join(" AND topic <> ?" for _ in without)
    sql = ("SELECT topic, originator_id, originator_version, state FROM ledger_events "
           "WHERE originator_id >= ? " + ("AND originator_id < ? " if hi is not None else "")
           + f"AND id <= ? AND topic LIKE ?{skip} ORDER BY originator_id, originator_version")
    params = [_uuid_param(connection, lo)] + ([_uuid_param(connection, hi)] if hi else [])
    result = connection.exec_driver_sql(_driver_sql(connection, sql),
                                        (*params, head, RECORD_TOPICS_LIKE, *without))
    while page := result.fetchmany(5000):
        yield from page


def _streams_rows(connection: Connection, streams: set[UUID], head: int) -> Iterator[tuple]:
    """The record events of the given streams, stream by stream, in order."""
    ordered = sorted(streams, key=lambda u: u.bytes)
    for chunk in _chunks(ordered, 500):
        sql = ("SELECT topic, originator_id, originator_version, state FROM ledger_events "
               f"WHERE originator_id IN ({', '.join('?' for _ in chunk)}) AND id <= ? "
               "ORDER BY originator_id, originator_version")
        params = [_uuid_param(connection, stream) for stream in chunk]
        yield from connection.exec_driver_sql(_driver_sql(connection, sql), (*params, head))


def group_streams(decoder: EventDecoder, rows: Iterator[tuple]) -> Iterator[list[Any]]:
    """Each stream's decoded events (rows come ordered by stream, then version)."""
    current: Any = None
    stream: UUID | None = None
    events: list[Any] = []
    for topic, originator_id, version, state in rows:
        if originator_id != current:
            if events:
                yield events
            current, events = originator_id, []
            stream = stream_uuid(originator_id)
        events.append(decoder.decode(topic, stream, version, state))
    if events:
        yield events


def _uses_cohorts(rulesets: Sequence[Ruleset]) -> bool:
    return any(params is not None and params.measure == "cohort"
               for ruleset in rulesets
               for params in (ruleset.outcomes.offending_initial,
                              ruleset.outcomes.offending_final))


def _derive_shard_with(read: Callable[[UUID, UUID | None, int], Iterator[tuple]],
                       decoder: EventDecoder, lo: UUID, hi: UUID | None, head: int, as_of: date,
                       rulesets: list[Ruleset], keep_histories: bool,
                       ) -> tuple[Rows, int, list[History]]:
    """Every client of one shard: its rows, the events read and (for cohorts) its histories."""
    rows = Rows()
    histories: list[History] = []
    events_read = 0
    for events in group_streams(decoder, read(lo, hi, head)):
        events_read += len(events)
        history = build_history(events, as_of, as_of)
        if history is None:
            continue
        rows.extend(seal_rows(client_rows(history, rulesets, commissioning=decoder.cipher is None),
                              decoder.cipher))
        if keep_histories:
            history.clocks.clear()  # kept for the cohort rows, which need no clock
            histories.append(history)
    return rows, events_read, histories


_inherited: dict[str, Any] = {}  # what a forked rebuild worker takes from its parent


def _default_terminate() -> None:
    """A forked worker ends when its pool terminates it, whatever SIGTERM handler the parent
    had installed (``pbr projections follow`` installs one; a worker that inherited it would
    ignore the pool and the rebuild would wait for it for ever)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _derive_shard_in_worker(job: tuple) -> tuple[bytes, int, list[History]]:
    """A rebuild worker: its own connection to the database, one shard at a time.

    The rows go back to the parent marshalled (they are tuples of text, integers and nulls),
    which costs about half as much as pickling them.
    """
    if "engine" not in _inherited:
        gc.freeze()  # what the parent built stays put; no collection walks it again
        gc.enable()  # the parent's rebuild pauses it; a worker's own garbage is per shard
        _inherited["engine"] = create_engine(_inherited["url"])

    def read(lo: UUID, hi: UUID | None, head: int) -> Iterator[tuple]:
        with _inherited["engine"].connect() as connection:
            yield from stream_rows(connection, lo, hi, head)

    rows, events_read, histories = _derive_shard_with(read, _inherited["decoder"], *job)
    return marshal.dumps(rows.tables()), events_read, histories


def worker_count() -> int:
    """Rebuild workers: one per processor this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))
