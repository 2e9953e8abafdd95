"""The event store: an ``eventsourcing`` application persisted through ``eventsourcing-sqlalchemy``.

Streams: one per client (every record about the client), one per ruleset. Beside the events the
store keeps one index table, ``pbr_source_ids``: a record's ``source_id`` with its client and a
digest of its content, written in the same transaction as the record's event, so duplicates and
conflicts are found with one indexed look-up however large the ledger grows.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Notification, StoredEvent, Transcoding
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    String,
    Table,
    create_engine,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.orm import Session

from ledger import chain
from ledger.cipher import CIPHER_TOPIC, IndexForm, LedgerCipher, configured_key
from ledger.events import ClientHistory, RecordEvent, client_stream_id
from ledger.locks import schema_transaction
from ledger.rulesets import Ruleset, parse_ruleset, ruleset_digest
from ledger.settings import check_key, create_private_sqlite_file

DEFAULT_DB = "sqlite:///pbr.db"
_RULESET_NAMESPACE = uuid5(NAMESPACE_URL, "pbr:ruleset")


class DateAsISO(Transcoding):
    """Dates are stored as ``YYYY-MM-DD`` and come back as ``date``, never as strings."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class RulesetStream(Aggregate):
    """A published ruleset: its TOML text, exactly as published, and a digest of its meaning."""

    class Published(Aggregate.Created):
        ruleset_id: str
        text: str
        digest: str

    def __init__(self, ruleset_id: str, text: str, digest: str) -> None:
        self.ruleset_id = ruleset_id
        self.text = text
        self.digest = digest

    @classmethod
    def create_id(cls, ruleset_id: str, **_: Any) -> UUID:
        return ruleset_stream_id(ruleset_id)


def ruleset_stream_id(ruleset_id: str) -> UUID:
    return uuid5(_RULESET_NAMESPACE, ruleset_id)


def database_url(url: str | None) -> str:
    """The SQLAlchemy URL to use: the argument, else ``PBR_DB``, else ``sqlite:///pbr.db``.

    PostgreSQL URLs without a driver are given psycopg 3, the driver the project installs.
    """
    url = url or os.environ.get("PBR_DB") or DEFAULT_DB
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class BulkApplicationRecorder(SQLAlchemyApplicationRecorder):
    """The library's recorder, inserting a batch of events in one statement, not row by row.

    Same table, same column values, same locking and notification ids; only the ORM
    unit-of-work per row is replaced by one driver-level ``executemany``. From the insert to the
    commit no other transaction can add events (the recorder takes PostgreSQL's EXCLUSIVE lock
    before it; on SQLite the insert makes this transaction the one writer), so the new rows are
    the highest ids, read back after the insert, inside the transaction.
    """

    def _insert_stored_events(self, session: Session, stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> Sequence[int]:
        if not stored_events:
            return []
        table = self.events_record_cls.__table__
        self._lock_table(session)
        self._insert_rows(session, stored_events)
        newest = sorted(session.execute(select(table.c.id).order_by(table.c.id.desc())
                                        .limit(len(stored_events))).scalars())
        chain.extend(session.connection(), stored_events, newest, insert_rows)
        self._notify_channel(session)
        return newest

    def append_events(self, session: Session, stored_events: Sequence[StoredEvent]) -> None:
        """Insert events as ``insert_events`` does, without reading back their notification ids
        (a bulk import has no use for them); chained as every event is (:mod:`ledger.chain`)."""
        self._lock_table(session)
        self._insert_rows(session, stored_events)
        connection = session.connection()
        chain.extend(connection, stored_events,
                     chain.newest_positions(connection, self.events_table_name,
                                            len(stored_events)), insert_rows)
        self._notify_channel(session)

    def _insert_rows(self, session: Session, stored_events: Sequence[StoredEvent]) -> None:
        table = self.events_record_cls.__table__
        connection = session.connection()
        # The column's own conversion (the UUID's 16 bytes on SQLite), once per stream: a batch
        # holds many events of each. On PostgreSQL the UUID itself, which the binary COPY
        # sends as a uuid.
        dialect = connection.dialect
        to_driver = table.c.originator_id.type.dialect_impl(dialect).bind_processor(dialect)
        if dialect.name == "postgresql" or to_driver is None:
            to_driver = _same
        originator_ids = {e.originator_id: None for e in stored_events}
        for stream_id in originator_ids:
            originator_ids[stream_id] = to_driver(stream_id)
        rows = [(originator_ids[e.originator_id], e.originator_version, e.topic, e.state)
                for e in stored_events]
        insert_rows(connection, table, ("originator_id", "originator_version", "topic", "state"),
                    rows)


def _same(value: Any) -> Any:
    return value


_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _placeholders(connection: Connection, count: int) -> str:
    """``count`` positional parameter markers of the driver, for SQL sent to it as it is."""
    try:
        placeholder = _PLACEHOLDERS[connection.dialect.paramstyle]
    except KeyError:
        raise NotImplementedError(f"bulk statements take the DB-API parameter styles "
                                  f"{sorted(_PLACEHOLDERS)}, not "
                                  f"{connection.dialect.paramstyle!r}") from None
    return ", ".join([placeholder] * count)


def insert_rows(connection: Connection, table: Table, columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values in ``columns`` order, as the driver takes them) in one call.

    On PostgreSQL one binary ``COPY … FROM STDIN`` on the transaction's own connection: the
    server's fastest way in (binary, each value in the column's own type, costs both sides
    less than text: no escaping, no parsing), with the same constraints checked (a duplicate
    key fails the copy, and so the transaction, as a failed ``INSERT`` would) and the same
    defaults filled in.
    """
    if not rows:
        return
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.fullname} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([_copy_type(table.c[name], connection.dialect) for name in columns])
            for row in rows:
                copy.write_row(row)
        return
    connection.exec_driver_sql(f"INSERT INTO {table.fullname} ({names}) "
                               f"VALUES ({_placeholders(connection, len(columns))})", list(rows))


def _copy_type(column: Column, dialect: Any) -> str:
    """The PostgreSQL type name of ``column`` (``VARCHAR(200)`` is ``varchar``), for a binary
    ``COPY``, which sends every value in its column's own type."""
    return column.type.compile(dialect=dialect).split("(")[0].strip().lower()


def begin_with_ddl(connection: Connection) -> None:
    """Open the connection's transaction now, so that the DDL that follows belongs to it.

    The SQLite driver opens a transaction only before an INSERT, UPDATE, DELETE or REPLACE: a
    DROP or CREATE issued first would run, and commit, on its own, and a failure later in the
    job would leave it done while the rest is undone. PostgreSQL's DDL is transactional already.
    """
    if connection.dialect.name == "sqlite" and \
            not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN")


class LedgerFactory(SQLAlchemyFactory):
    application_recorder_class = BulkApplicationRecorder


metadata = MetaData()
source_ids = Table(
    "pbr_source_ids", metadata,
    Column("source_id", String(200), primary_key=True),
    Column("client", String(200), nullable=False),
    Column("digest", String(64), nullable=False),
)


# Record events (one stream per client) are almost every row of the events table; everything
# else the ledger stores (rulesets, payment runs, disputes, remittances) is a few rows among
# millions. This partial index holds only those few, so reading them never scans the records.
RECORD_TOPIC_PREFIX = "ledger.events:"  # the module of the record events (ledger.events)
RECORD_TOPICS_LIKE = RECORD_TOPIC_PREFIX + "%"
RULESET_TOPIC = "ledger.store:RulesetStream.Published"
_LEDGER_TOPICS = text(f"topic NOT LIKE '{RECORD_TOPICS_LIKE}'")  # a literal: the planners
# use a partial index only for a query that states its condition in the same words
LEDGER_TOPICS_INDEX = "pbr_ledger_events_ledger_topics"


def _has_ledger_topics_index(bind: Any, table: Table) -> bool:
    return any(index["name"] == LEDGER_TOPICS_INDEX for index in inspect(bind).get_indexes(
        table.name, schema=table.schema))


def _create_ledger_topics_index(connection: Connection, table: Table) -> None:
    """Create the partial index once. Asked whether it exists first: creating an index (even
    "if not exists") locks the table on PostgreSQL, and every command opens the ledger.

    Plain DDL rather than an ``Index`` on the library's ``Table`` object, which is shared.
    """
    if not _has_ledger_topics_index(connection, table):
        connection.execute(text(
            f"CREATE INDEX IF NOT EXISTS {LEDGER_TOPICS_INDEX} ON {table.fullname} "
            f"(id) WHERE {_LEDGER_TOPICS.text}"))


def create_tables(engine: Any, tables: Sequence[Table]) -> None:
    """Create the events table (``tables``, the library's), the index table and the partial
    index where they do not exist, in one transaction holding the schema lock
    (:mod:`ledger.locks`). A ledger that has them all is not locked at all."""
    names = [table.name for table in (*tables, *metadata.sorted_tables)]
    present = inspect(engine)
    if all(present.has_table(name) for name in names) and \
            _has_ledger_topics_index(engine, tables[0]):
        return
    with schema_transaction(engine) as connection:
        for table in tables:
            table.create(connection, checkfirst=True)
        metadata.create_all(connection, checkfirst=True)
        _create_ledger_topics_index(connection, tables[0])


EVENTS_TABLE = "ledger_events"  # the library's table for the application named "ledger"


class LedgerMissing(LookupError):
    """A ledger database that does not exist (or holds no ledger), opened only to read."""


def require_existing(url: str) -> None:
    """Raise :class:`LedgerMissing` unless ``url`` holds a ledger: for SQLite the file must
    exist (connecting would create it); on any database the events table must."""
    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and path not in ("", ":memory:") \
            and not path.startswith("file:") and not os.path.exists(path):
        raise LedgerMissing(f"no ledger at {url}: the file {path} does not exist "
                            "(check --db; commands that write create it)")
    engine = create_engine(url)
    try:
        present = inspect(engine).has_table(EVENTS_TABLE)
    finally:
        engine.dispose()
    if not present:
        raise LedgerMissing(f"no ledger at {url}: the database holds no {EVENTS_TABLE} table "
                            "(check --db; commands that write create it)")


class Ledger(Application):
    """The ledger application: validates nothing itself, saves whole batches atomically."""

    name = "ledger"

    def __init__(self, url: str | None = None, create: bool = True,
                 keyless: bool = False) -> None:
        """Open the ledger at ``url``; with ``create=False`` (reading commands) a ledger that
        does not exist is :class:`LedgerMissing`, never created empty. ``keyless`` opens an
        encrypted ledger without its key, to verify its chain only (RULES.md §9: integrity is
        checkable without the key); its events cannot then be read."""
        self.url = database_url(url)
        if not create:
            require_existing(self.url)
        else:
            create_private_sqlite_file(self.url)
        key = configured_key()
        super().__init__(env={
            "PERSISTENCE_MODULE": "ledger.store:LedgerFactory",
            "SQLALCHEMY_URL": self.url,
            "CREATE_TABLE": "n",  # created below, under the schema lock
            "CIPHER_TOPIC": CIPHER_TOPIC if key else "",
            "CIPHER_KEY": key or "",
        })
        self.datastore = self.recorder.datastore  # type: ignore[attr-defined]
        self._events_table = self.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        self.cipher: LedgerCipher | None = self.mapper.cipher  # type: ignore[assignment]
        self.index_form = IndexForm(key)
        self.notices: list[str] = []  # said once to whoever opened the ledger (the CLI prints)
        try:
            self._open_protected(create, keyless and key is None)
        except BaseException:
            self.close()
            raise

    def _open_protected(self, create: bool, keyless: bool) -> None:
        """The tables beside the events, the chain (built if the ledger predates it) and the
        key check."""
        engine = self.datastore.engine
        if create:
            create_tables(self.datastore.engine, self.recorder.tables)  # type: ignore[attr-defined]
        chain.build_if_missing(engine, self._events_table.name, self.write_lock,
                               self.notices.append)
        self.encrypted = check_key(engine, self.cipher, self._events_table.name, keyless)

    def write_lock(self, connection: Connection) -> None:
        """Make ``connection``'s transaction the one writer of events, as the recorder does."""
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"LOCK TABLE {self._events_table.fullname} "
                                       "IN EXCLUSIVE MODE")
        elif connection.dialect.name == "sqlite" and \
                not connection.connection.dbapi_connection.in_transaction:  # type: ignore
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def close(self) -> None:
        """Release the database connections."""
        super().close()
        if self.datastore.engine is not None:
            self.datastore.engine.dispose()

    def transaction(self) -> Any:
        """One database transaction that ``save`` calls inside it join (commit on exit)."""
        return self.datastore.transaction(commit=True)

    # Clients -------------------------------------------------------------------------------

    def client(self, client: str) -> ClientHistory | None:
        try:
            return self.repository.get(client_stream_id(client))
        except AggregateNotFoundError:
            return None

    def load_clients(self, clients: Iterable[str]) -> dict[str, ClientHistory]:
        """The streams of those of ``clients`` that exist, read in one query per 500 clients."""
        by_id = {client_stream_id(client): client for client in set(clients)}
        table = self.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        found: dict[str, ClientHistory] = {}
        wanted = list(by_id)
        with self.datastore.transaction(commit=False) as session:
            if session.connection().dialect.name == "postgresql":
                # One query whatever the number: the stream ids as one array parameter.
                pages: Iterable[Any] = [session.connection().exec_driver_sql(
                    f"SELECT originator_id, originator_version, topic, state FROM "
                    f"{table.fullname} WHERE originator_id = ANY(%s) "
                    "ORDER BY originator_id, originator_version", (wanted,))]
            else:
                pages = (session.execute(
                    select(table.c.originator_id, table.c.originator_version, table.c.topic,
                           table.c.state)
                    .where(table.c.originator_id.in_(wanted[start:start + 500]))
                    .order_by(table.c.originator_id, table.c.originator_version))
                    for start in range(0, len(wanted), 500))
            for page in pages:
                for originator_id, version, topic, state in page:
                    event = self.mapper.to_domain_event(StoredEvent(
                        originator_id=originator_id, originator_version=version,
                        topic=topic, state=bytes(state)))
                    client = by_id[originator_id]
                    found[client] = event.mutate(found.get(client))  # type: ignore[attr-defined]
        return found

    def client_events(self, client: str) -> list[RecordEvent]:
        """A client's records in the order the ledger received them."""
        return list(self.events.get(client_stream_id(client)))  # type: ignore[arg-type]

    def known_source_ids(self, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """For each id already in the ledger: its stored (client, digest), which
        :meth:`index_values` of the same client and content equals."""
        keyed = self.index_form.ids(set(ids))
        by_key = {stored: source_id for source_id, stored in keyed.items()}
        wanted = list(by_key)
        found: dict[str, tuple[str, str]] = {}
        with self.datastore.transaction(commit=False) as session:
            connection = session.connection()
            if connection.dialect.name == "postgresql":
                # One query whatever the number: the ids as one array parameter.
                rows = connection.exec_driver_sql(
                    f"SELECT source_id, client, digest FROM {source_ids.fullname} "
                    "WHERE source_id = ANY(%s)", (wanted,))
                found.update({by_key[stored]: (client, digest)
                              for stored, client, digest in rows})
                return found
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                rows = connection.exec_driver_sql(
                    f"SELECT source_id, client, digest FROM {source_ids.fullname} "
                    f"WHERE source_id IN ({_placeholders(connection, len(chunk))})", tuple(chunk))
                found.update({by_key[stored]: (client, digest)
                              for stored, client, digest in rows})
        return found

    def index_values(self, client: str, content: str) -> tuple[str, str]:
        """A record's (client, digest) as the index stores them (:class:`IndexForm`)."""
        return self.index_form.values(client, content)

    def append_batch(self, events: Sequence[StoredEvent],
                     index_rows: Sequence[tuple[str, str, str]],
                     written: Callable[[], None] | None = None) -> None:
        """Append stored events and their ``(source_id, client, digest)`` index rows, atomically.

        The events are already in the library's stored form (:mod:`ledger.encoding`); the
        application's recorder inserts them as ``save`` would. ``written`` is called when the
        rows are written, before the commit (the commit waits for the disk).
        """
        with self.transaction() as session:
            assert isinstance(session, Session)
            if index_rows:
                insert_rows(session.connection(), source_ids, ("source_id", "client", "digest"),
                            self.index_form.rows(index_rows))
            self.recorder.append_events(session, events)  # type: ignore[attr-defined]
            if written is not None:
                written()

    # The whole ledger ----------------------------------------------------------------------

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def notifications(self, start: int = 1, batch: int = 5000,
                      topics: Sequence[str] = ()) -> Iterator[tuple[int, Any]]:
        """Every event from position ``start`` on, in the order recorded, with its position.

        A full read is served from events already decoded in this process (stored events never
        change), and only what was recorded since is read from the database.
        """
        if start == 1 and not topics:
            self._extend_log_cache(batch)
            return iter(self._log_cache)
        return self._read_notifications(start, batch, topics)

    def _extend_log_cache(self, batch: int) -> None:
        cache = self.__dict__.setdefault("_log_cache", [])
        after = cache[-1][0] + 1 if cache else 1
        cache.extend(self._read_notifications(after, batch, ()))

    def _read_notifications(self, start: int, batch: int,
                            topics: Sequence[str]) -> Iterator[tuple[int, Any]]:
        position = start
        indexed = bool(topics) and not any(topic.startswith(RECORD_TOPIC_PREFIX)
                                           for topic in topics)
        while True:
            if indexed:
                page = self._select_ledger_notifications(position, batch, topics)
            else:
                page = self.recorder.select_notifications(position, batch, topics=topics)
            if not page:
                return
            for notification in page:
                yield notification.id, self.mapper.to_domain_event(notification)
            position = page[-1].id + 1

    def _select_ledger_notifications(self, start: int, limit: int,
                                     topics: Sequence[str]) -> list[Notification]:
        """The library's ``select_notifications`` for topics that are not records, read
        through the partial index of those topics."""
        table = self._events_table
        query = (select(table.c.id, table.c.originator_id, table.c.originator_version,
                        table.c.topic, table.c.state)
                 .where(_LEDGER_TOPICS, table.c.id >= start, table.c.topic.in_(list(topics)))
                 .order_by(table.c.id).limit(limit))
        with self.datastore.transaction(commit=False) as session:
            return [Notification(id=row.id, originator_id=row.originator_id,
                                 originator_version=row.originator_version, topic=row.topic,
                                 state=bytes(row.state))
                    for row in session.execute(query)]

    def records_by_client(self, known_on: date | None = None,
                          ) -> tuple[dict[str, list[RecordEvent]], int]:
        """Every client's records (received on or before ``known_on``) and the last position."""
        by_client: dict[str, list[RecordEvent]] = defaultdict(list)
        last = 0
        for position, event in self.notifications():
            if isinstance(event, RecordEvent) and (known_on is None
                                                   or event.received_on <= known_on):
                by_client[event.client].append(event)
                last = position
        return dict(by_client), last

    # Rulesets ------------------------------------------------------------------------------

    def publish_ruleset(self, text: str) -> tuple[Ruleset, bool]:
        """Publish a validated ruleset; ``False`` when the same content was already published.

        Raises ``RulesetConflict`` when the id is taken by other content.
        """
        ruleset = parse_ruleset(text)
        digest = ruleset_digest(ruleset)
        try:
            existing = self.repository.get(ruleset_stream_id(ruleset.id))
        except AggregateNotFoundError:
            self.save(RulesetStream(ruleset_id=ruleset.id, text=text, digest=digest))
            return ruleset, True
        if existing.digest != digest:
            raise RulesetConflict(ruleset.id)
        return ruleset, False

    def rulesets(self) -> list[Ruleset]:
        """Every published ruleset, in the order published."""
        return [parse_ruleset(event.text, published=True)
                for _, event in self.notifications(topics=[RULESET_TOPIC])]

    def ruleset_text(self, ruleset_id: str) -> str | None:
        try:
            return self.repository.get(ruleset_stream_id(ruleset_id)).text
        except AggregateNotFoundError:
            return None


class RulesetConflict(ValueError):
    def __init__(self, ruleset_id: str) -> None:
        super().__init__(f"id: ruleset {ruleset_id!r} is already published with other content; "
                         "publish the change under a new id")
        self.ruleset_id = ruleset_id
