"""Import: files of records (JSON Lines or CSV) checked line by line and appended in batches.

Each line is checked for its shape (:mod:`ledger.records`), then against the ledger: a known
client, a known journey, one open journey, dates in order, and its ``source_id`` (a duplicate is
skipped, the same id with other content is a conflict). Valid records are appended in batches
that commit atomically together with their ``source_id`` index rows, so an interrupted import
leaves only whole batches, and running it again completes it with no duplicates.

The shape check of a line (parse, validate, digest, encode its event: stamp it, and with a key
encrypt it and key its index digests) needs nothing but the line, so for large files it runs in
worker processes, in order; the checks against the ledger and the appends stay in this process,
one line after another, exactly as for a small file. Records are appended as stored events
encoded straight from the record (:mod:`ledger.encoding`): the same rows the library would write
from its event objects, without building them.
"""

from __future__ import annotations

import codecs
import csv
import io
import multiprocessing
import os
import pickle
import random
import signal
import stat
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger import safety
from ledger.encoding import RecordEventEncoder
from ledger.events import ClientImportState, client_stream_id
from ledger.failures import lost_race
from ledger.memory import cycle_collection_paused
from ledger.records import (
    RecordError,
    digest,
    event_fields,
    from_csv_row,
    own_dates,
    validate_record,
)
from ledger.store import Ledger, begin_with_ddl

BATCH_SIZE = 5000
RETRIES = 20  # tries of a batch that keeps losing races to another writer
PARALLEL_FROM_LINES = 20_000  # JSON Lines files longer than this are shaped by workers


class UnreadableInput(Exception):
    """A file that cannot be read at all (missing, not text): bad usage, not a rejected line."""


@dataclass(frozen=True)
class Reject:
    file: str
    line: int
    source_id: str | None
    code: str
    reason: str
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "source_id": self.source_id,
                "code": self.code, "reason": self.reason}


@dataclass
class ImportReport:
    accepted: int = 0
    duplicates: int = 0
    retried: int = 0  # batches checked again after losing a race with another writer
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejects)


@dataclass(frozen=True)
class Line:
    file: str
    number: int
    text: str
    data: Any  # the parsed record, or a RecordError


def read_lines(path: Path) -> Iterator[Line]:
    """The records of one file: CSV when it ends in ``.csv``, else JSON Lines."""
    if path.suffix.lower() == ".csv":
        yield from _csv_lines(str(path), _read_text(path))
        return
    for number, line in JsonLinesFile(path).numbered(BATCH_SIZE):
        yield Line(str(path), number, line, parse_json_line(line))


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise UnreadableInput(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise UnreadableInput(f"{path}: not UTF-8 text") from None


class JsonLinesFile:
    """A JSON Lines file as the offsets of its lines: the text is read a batch at a time.

    Opening it reads the file once, checking it is UTF-8 (a byte-order mark is allowed) and
    noting where each line that is not blank starts and ends and its number; a national file
    is never held in memory whole. Lines end at ``\\n`` (a ``\\r`` before it is dropped).
    """

    CHUNK = 1 << 24

    def __init__(self, path: Path) -> None:
        self.path = path
        self.numbers, self.starts, self.ends = array("q"), array("q"), array("q")
        try:
            with path.open("rb") as handle:
                self._scan(handle)
        except OSError as error:
            raise UnreadableInput(f"{path}: cannot read ({error.strerror or error})") from None
        except UnicodeDecodeError:
            raise UnreadableInput(f"{path}: not UTF-8 text") from None

    def _scan(self, handle: Any) -> None:
        check = codecs.getincrementaldecoder("utf-8")()
        offset, number, line_start, blank, before = 0, 1, 0, True, b""
        head = handle.read(3)
        if head == codecs.BOM_UTF8:
            offset = line_start = 3
        else:
            handle.seek(0)
        while chunk := handle.read(self.CHUNK):
            check.decode(chunk)
            position = 0
            while (newline := chunk.find(b"\n", position)) >= 0:
                blank = blank and not chunk[position:newline].strip()
                carriage = (chunk[newline - 1:newline] if newline else before) == b"\r"
                self._line(number, line_start, offset + newline - carriage, blank)
                number, line_start, blank = number + 1, offset + newline + 1, True
                position = newline + 1
            blank = blank and not chunk[position:].strip()
            offset, before = offset + len(chunk), chunk[-1:]
        check.decode(b"", final=True)
        if line_start < offset:
            self._line(number, line_start, offset, blank)

    def _line(self, number: int, start: int, end: int, blank: bool) -> None:
        if not blank:
            self.numbers.append(number)
            self.starts.append(start)
            self.ends.append(end)

    def __len__(self) -> int:
        return len(self.starts)

    def numbered(self, batch_size: int) -> Iterator[tuple[int, str]]:
        """Every line's number and text, read ``batch_size`` lines at a time."""
        for first in range(0, len(self), batch_size):
            last = min(first + batch_size, len(self))
            yield from zip(self.numbers[first:last], self.texts(first, last), strict=True)

    def texts(self, first: int, last: int, descriptor: int | None = None) -> list[str]:
        """The text of lines ``first`` to ``last`` (exclusive), read in one call."""
        if first >= last:
            return []
        base = self.starts[first]
        if descriptor is None:
            with self.path.open("rb") as handle:
                handle.seek(base)
                block = handle.read(self.ends[last - 1] - base)
        else:
            block = os.pread(descriptor, self.ends[last - 1] - base, base)
        return [block[self.starts[n] - base:self.ends[n] - base].decode("utf-8")
                for n in range(first, last)]


def parse_json_line(line: str) -> Any:
    """The JSON value of one line, or the RecordError that rejects it (:mod:`ledger.safety`:
    not JSON, nested too deeply, a key repeated)."""
    try:
        return safety.loads(line)
    except RecordError as error:
        return error


def _csv_lines(name: str, text: str) -> Iterator[Line]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise UnreadableInput(f"{name}: the header row is not CSV ({error})") from None
    if not header or "type" not in header:
        raise UnreadableInput(f"{name}: a CSV file needs a header row with a 'type' column")
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise UnreadableInput(f"{name}: the header row names {safety.printable(repeated[0])!r} "
                              "more than once")
    while True:
        last = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield Line(name, last + 1, "", RecordError("not_csv", f"line: not CSV ({error})"))
            continue
        yield Line(name, reader.line_num, _csv_text(row), _csv_record(row))


def _csv_record(row: dict[Any, Any]) -> Any:
    """A CSV row's record, or the RecordError that rejects it."""
    extra = row.get(None)
    if extra is not None:
        return RecordError("extra_cells", f"line: {len(extra)} more cell(s) than the header "
                                          "has columns")
    try:
        return from_csv_row(row, parse=safety.parse_value)
    except RecordError as error:
        return error


def _csv_text(row: dict[Any, Any]) -> str:
    """The row's cells again, for the rejects file."""
    cells: list[str] = []
    for key, value in row.items():
        if key is None:
            cells += [str(cell) for cell in value]
        else:
            cells.append(value or "")
    return ",".join(cells)


# A line whose record has a valid shape, with what appending it takes: the record, its digest,
# its event's state as stored (RecordEventEncoder.stored_state: stamped, and encrypted with a
# key) and, with a key, its keyed source id and digest for the index (IndexForm.keyed). A plain
# tuple: workers send the importer one per line, and tuples are the cheapest to send.
Shaped = tuple[Any, str, bytes, tuple[str, str] | None]


class Refused(NamedTuple):
    """A line rejected for its shape, before it meets the ledger."""

    source_id: str | None
    error: RecordError


def shape(data: Any, encoder: RecordEventEncoder) -> Shaped | Refused:
    """Check one line's record for its shape; digest and encode it when it passes."""
    if isinstance(data, RecordError):
        return Refused(None, data)
    try:
        record = validate_record(data)
        safety.check_strings(record.__dict__)
    except RecordError as error:
        source_id = data.get("source_id") if isinstance(data, dict) else None
        return Refused(source_id if isinstance(source_id, str) else None, error)
    content = digest(record)
    return record, content, encoder.stored_state(record), encoder.keyed(record, content)


def _worker_count() -> int:
    """One worker per core but the importer's own."""
    return max(1, (os.cpu_count() or 1) - 1)


class ShapingWorkers:
    """Worker processes shaping the lines of one large file, a batch at a time, in order.

    Forked once the file's lines are found, before the importer starts its appending thread:
    each worker reads the lines it is asked for from the file itself, so the importer sends only
    which lines to shape and receives the results in the order it asked. A worker shapes the
    next batch while the importer checks and appends one. A worker whose importer has gone (pipe
    closed, or the importer killed) exits quietly, and the importer stops when a worker does.
    """

    def __init__(self, lines: JsonLinesFile, encoder: RecordEventEncoder,
                 count: int | None = None) -> None:
        context = multiprocessing.get_context("fork")
        pipes = [context.Pipe() for _ in range(count or _worker_count())]
        self._lines = len(lines)
        self._processes = [
            context.Process(target=_serve_shapes, args=(lines, encoder, pipes, n), daemon=True)
            for n in range(len(pipes))]
        for process in self._processes:
            process.start()
        for _, worker_end in pipes:
            worker_end.close()
        self._connections = [importer_end for importer_end, _ in pipes]

    def __enter__(self) -> ShapingWorkers:
        return self

    def __exit__(self, *_: object) -> None:
        for connection in self._connections:
            connection.close()
        for process in self._processes:
            process.terminate()
            process.join()

    def shaped(self, batch_size: int) -> Iterator[Shaped | Refused]:
        """The shape check of every line of the file, in order."""
        batches = [(start, min(start + batch_size, self._lines))
                   for start in range(0, self._lines, batch_size)]
        workers = len(self._connections)
        ahead = 2 * workers  # each worker has its next batch waiting when it sends one back
        for n, lines in enumerate(batches[:ahead]):
            self._connections[n % workers].send(lines)
        for n in range(len(batches)):
            connection = self._connections[n % workers]
            try:
                results = pickle.loads(connection.recv_bytes())
            except EOFError:
                raise RuntimeError("an import worker stopped unexpectedly") from None
            if n + ahead < len(batches):
                connection.send(batches[n + ahead])
            yield from results


def _serve_shapes(lines: JsonLinesFile, encoder: RecordEventEncoder,
                  pipes: list[tuple[Connection, Connection]], own: int) -> None:
    """A shaping worker: shape each range of lines asked for, until the importer has gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the importer stops its workers itself
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # and terminating one ends it, whatever
    # handler the importer's process had
    for n, (importer_end, worker_end) in enumerate(pipes):
        importer_end.close()  # so that the importer's end closing is seen here
        if n != own:
            worker_end.close()  # so that another worker stopping is seen by the importer
    connection = pipes[own][1]
    descriptor = os.open(lines.path, os.O_RDONLY)
    try:
        while True:
            start, end = connection.recv()
            results = [shape(parse_json_line(line), encoder)
                       for line in lines.texts(start, end, descriptor)]
            # Plain pickle: the connection's own pickler is much slower on many small objects.
            connection.send_bytes(pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
    except (EOFError, ConnectionError):
        return
    finally:
        os.close(descriptor)


@contextmanager
def one_snapshot(ledger: Ledger) -> Iterator[None]:
    """The reads inside see the ledger in one state, even while another import commits.

    A batch's ``source_id``s and its clients' streams are read by two queries; read in two
    states, a record another import committed between them would be found in its client's
    stream but not in the index, and be rejected (``already_registered``) instead of counted
    a duplicate. One PostgreSQL transaction at REPEATABLE READ, or one SQLite read
    transaction (its snapshot is taken at the first read), holds both.
    """
    with ledger.datastore.transaction(commit=False) as session:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        else:
            begin_with_ddl(connection)  # an explicit BEGIN: the driver would not open one
        yield


class BatchLost(Exception):
    """A batch whose transaction lost a race with another writer (another import stored one of
    its records, or the next event of one of its clients, first): nothing of it was written."""


class ImportContention(Exception):
    """A batch that kept losing races: the import stops, keeping every batch committed."""


def append_batch(ledger: Ledger, events: list[StoredEvent],
                 index_rows: list[tuple[str, str, str]],
                 written: Callable[[], None] | None = None) -> None:
    """:meth:`Ledger.append_batch`, raising :class:`BatchLost` for a lost race.

    The index rows go in sorted, so that two imports inserting the same ids take their row
    locks in the same order (PostgreSQL would otherwise end one of them as a deadlock).
    """
    try:
        ledger.append_batch(events, sorted(index_rows), written=written)
    except Exception as error:
        if lost_race(error):
            raise BatchLost() from error
        raise


class BatchAppender:
    """Appends each batch in a thread of its own, and lets the importer go on once the rows are
    written: the commit, waiting for the disk, overlaps the checks of the next batch.

    One batch is in flight at a time and batches commit in order, each in its own transaction.
    On SQLite the importer waits while the rows are written (the driver would otherwise wait
    for the interpreter at every row); on PostgreSQL the rows go by ``COPY``, built in the
    driver's C code and sent while the interpreter is free, so the next batch is checked
    while this one is written. Either way the importer checks the next batch against what it
    accepted itself (``seen``, the client streams), never against rows not yet committed.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._wait_for_rows = ledger.datastore.engine.dialect.name != "postgresql"
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pbr-append")
        self._in_flight: Future[None] | None = None

    def __enter__(self) -> BatchAppender:
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.wait()
        finally:
            self._thread.shutdown()

    def append(self, events: list[StoredEvent], index_rows: list[tuple[str, str, str]]) -> None:
        """Append a batch; return once its rows are written (on PostgreSQL, once it is handed
        to the appending thread), or it failed, raising why."""
        self.wait()
        written = threading.Event()
        self._in_flight = self._thread.submit(self._append, events, index_rows, written)
        if self._wait_for_rows:
            written.wait()
        if self._in_flight.done():
            self.wait()

    def _append(self, events: list[StoredEvent], index_rows: list[tuple[str, str, str]],
                written: threading.Event) -> None:
        try:
            append_batch(self._ledger, events, index_rows, written=written.set)
        finally:
            written.set()

    def wait(self) -> None:
        """Until the batch in flight is committed; its error if it failed."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()


@dataclass
class _Stream:
    """A client's stream as import knows it: the import state, its id and its last version."""

    state: ClientImportState
    id: UUID
    version: int


def check_regular_file(path: Path) -> None:
    """Raise :class:`UnreadableInput` unless ``path`` is a regular file, naming what it is."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UnreadableInput(f"{path}: no such file") from None
    except OSError as error:
        raise UnreadableInput(f"{path}: cannot read ({error.strerror or error})") from None
    if stat.S_ISDIR(mode):
        raise UnreadableInput(f"{path}: is a directory, not a file of records (name the files "
                              "in it)")
    if not stat.S_ISREG(mode):
        kind = ("a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise UnreadableInput(f"{path}: is {kind}, not a regular file of records")


class Importer:
    """Checks records against the ledger and appends them in atomic batches."""

    def __init__(self, ledger: Ledger, batch_size: int = BATCH_SIZE) -> None:
        self.ledger = ledger
        self.batch_size = batch_size
        self.encoder = RecordEventEncoder(ledger.mapper, ledger.index_form)
        self.clients: dict[str, _Stream | None] = {}
        # source_id -> (client, digest) of the records accepted in this batch and in the last
        # batch appended, which may not be committed yet; earlier ones are in the ledger's index
        self.seen: dict[str, tuple[str, str]] = {}
        self.seen_before: dict[str, tuple[str, str]] = {}
        self.report = ImportReport()
        # The batches checked but not yet known committed, with the report as it was before
        self._unsettled: list[tuple[list[Any], tuple[int, int, int]]] = []

    def run(self, paths: list[Path], progress: Callable[[int], None] | None = None) -> ImportReport:
        for path in paths:
            check_regular_file(path)
        paths_order = {str(path): n for n, path in enumerate(paths)}
        with cycle_collection_paused():
            for path in paths:
                self._import_file(path, progress)
        self.report.rejects.sort(key=lambda r: (paths_order[r.file], r.line))
        return self.report

    def _import_file(self, path: Path, progress: Callable[[int], None] | None) -> None:
        with ExitStack() as stack:
            lines: Iterator[tuple[int, str, Shaped | Refused]]
            if path.suffix.lower() == ".csv":
                lines = ((line.number, line.text, shape(line.data, self.encoder))
                         for line in _csv_lines(str(path), _read_text(path)))
            else:
                lines = self._shaped_json_lines(JsonLinesFile(path), stack)
            appender = stack.enter_context(BatchAppender(self.ledger))
            for batch in _batches(lines, self.batch_size):
                self._check_and_append(str(path), batch, appender)
                if progress:
                    progress(len(batch))
            try:
                appender.wait()
            except BatchLost:
                self._append_again(str(path))
            self._unsettled.clear()

    def _check_and_append(self, file: str, batch: list[tuple[int, str, Shaped | Refused]],
                          appender: BatchAppender) -> None:
        """Check a batch and hand it to the appender. A batch is unsettled until the one after
        it is appended (its commit may still fail); a batch that lost a race is checked again
        with every unsettled batch after it (they were checked against it), and appended."""
        self._unsettled.append((batch, self._mark()))
        events, index_rows = self._check_batch(file, batch)
        if not events:
            return
        try:
            appender.wait()  # the batch before is committed, or it lost a race
            del self._unsettled[:-1]
            appender.append(events, index_rows)
        except BatchLost:
            self._append_again(file)
            return
        # Every batch before this one is committed now; this one may not be yet.
        self.seen_before, self.seen = self.seen, {}

    def _append_again(self, file: str) -> None:
        """Check the unsettled batches again against the ledger as it is now, and append
        them one at a time, each retried while it loses races (RETRIES times at most)."""
        batches = [batch for batch, _ in self._unsettled]
        self._restore(self._unsettled[0][1])
        self.report.retried += len(batches)
        self._unsettled.clear()
        for batch in batches:
            for attempt in range(1, RETRIES + 1):
                mark = self._mark()
                self._forget()
                events, index_rows = self._check_batch(file, batch)
                try:
                    if events:
                        append_batch(self.ledger, events, index_rows)
                    break
                except BatchLost:
                    self._restore(mark)
                    self.report.retried += 1
                    if attempt == RETRIES:
                        raise ImportContention(
                            f"{file}: another writer kept storing records of the same clients "
                            f"({RETRIES} tries); every batch before line {batch[0][0]} is "
                            "stored: import the file again to complete it") from None
                    time.sleep(random.uniform(0.01, 0.05) * attempt)
        self._forget()

    def _mark(self) -> tuple[int, int, int]:
        return self.report.accepted, self.report.duplicates, len(self.report.rejects)

    def _restore(self, mark: tuple[int, int, int]) -> None:
        self.report.accepted, self.report.duplicates, rejects = mark
        del self.report.rejects[rejects:]

    def _forget(self) -> None:
        """Drop what this import knows of the ledger: read it again from the database."""
        self.clients.clear()
        self.seen, self.seen_before = {}, {}

    def _shaped_json_lines(self, lines: JsonLinesFile, stack: ExitStack,
                           ) -> Iterator[tuple[int, str, Shaped | Refused]]:
        """Each line: its number, its text and its shape check (by workers if there are many)."""
        shaped: Iterator[Shaped | Refused] | None = None
        if len(lines) > PARALLEL_FROM_LINES:
            shaped = stack.enter_context(ShapingWorkers(lines, self.encoder)).shaped(
                self.batch_size)
        for number, text in lines.numbered(self.batch_size):
            result = next(shaped) if shaped is not None \
                else shape(parse_json_line(text), self.encoder)
            yield number, text, result

    def _check_batch(self, file: str, lines: list[tuple[int, str, Shaped | Refused]],
                     ) -> tuple[list[StoredEvent], list[tuple[str, str, str]]]:
        """Check a batch's lines in order; its events (stream by stream) and index rows."""
        shaped = [result for _, _, result in lines if not isinstance(result, Refused)]
        records = [result[0] for result in shaped]
        self.ledger.index_form.learn((record.source_id, record.client, content, keyed)
                                     for record, content, _, keyed in shaped)
        with one_snapshot(self.ledger):
            known = self.ledger.known_source_ids(record.source_id for record in records)
            self._load_clients(record.client for record in records)
        streams: dict[str, list[StoredEvent]] = {}
        index_rows: list[tuple[str, str, str]] = []
        for number, text, result in lines:
            if isinstance(result, Refused):
                self._reject(file, number, text, result.source_id, result.error)
                continue
            record, content, state, _ = result
            try:
                if self._is_duplicate(record.source_id, record.client, content, known):
                    self.report.duplicates += 1
                    continue
                stream = self._append(record)
            except RecordError as error:
                self._reject(file, number, text, record.source_id, error)
                continue
            streams.setdefault(record.client, []).append(
                self._stored_event(stream, record, state))
            self.seen[record.source_id] = (record.client, content)
            index_rows.append((record.source_id, record.client, content))
        self.report.accepted += len(index_rows)
        return [event for events in streams.values() for event in events], index_rows

    def _reject(self, file: str, number: int, text: str, source_id: str | None,
                error: RecordError) -> None:
        self.report.rejects.append(Reject(file, number, source_id, error.code, error.reason,
                                          text))

    def _is_duplicate(self, source_id: str, client: str, content: str,
                      known: dict[str, tuple[str, str]]) -> bool:
        previous = self.seen.get(source_id) or self.seen_before.get(source_id)
        if previous is None and source_id in known:
            previous = known[source_id]
            client, content = self.ledger.index_values(client, content)
        if previous is None:
            return False
        if previous == (client, content):
            return True
        raise RecordError("conflict", f"source_id: {source_id} is already in the ledger with "
                                      "other content")

    def _load_clients(self, clients: Iterator[str]) -> None:
        """Read the streams of the batch's clients not yet seen, in one query."""
        missing = {client for client in clients if client not in self.clients}
        if missing:
            loaded = self.ledger.load_clients(missing)
            for client in missing:
                history = loaded.get(client)
                self.clients[client] = (None if history is None
                                        else _Stream(history, history.id, history.version))

    def _append(self, record: Any) -> _Stream:
        """Check the record against its client's state and fold it in; the stream back."""
        stream = self.clients[record.client]
        if record.type == "client_registered":
            if stream is not None:
                raise RecordError("already_registered",
                                  f"client: {record.client} is already registered")
            if record.date_of_birth > record.received_on:
                raise RecordError("date_after_received",
                                  "date_of_birth: later than received_on")
            stream = _Stream(ClientImportState(**event_fields(record)),
                             client_stream_id(record.client), 0)
            self.clients[record.client] = stream
            return stream
        if stream is None:
            raise RecordError("unregistered_client", f"client: {record.client} is not registered")
        check_record(stream.state, record)
        stream.state.record(record)
        return stream

    def _stored_event(self, stream: _Stream, record: Any, state: bytes) -> StoredEvent:
        """The record's event as the library stores it, next in its client's stream."""
        stream.version += 1
        return StoredEvent(originator_id=stream.id, originator_version=stream.version,
                           topic=self.encoder.topic(record.type), state=state)


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def check_record(history: ClientImportState, record: Any) -> None:
    """CONTRACT.md's checks of a record against the client's stream; raise a named reason."""
    for name, day in own_dates(record):
        if day > record.received_on:
            raise RecordError("date_after_received",
                              f"{name}: {day} is later than received_on {record.received_on}")
        if day < history.date_of_birth:
            raise RecordError("date_before_birth",
                              f"{name}: {day} is before the client's date of birth")
    check = _CHECKS.get(record.type)
    if check is not None:
        check(history, record)


def _check_start(history: ClientImportState, record: Any) -> None:
    if record.journey in history.journey_starts:
        raise RecordError("journey_exists", f"journey: {record.journey} has already started")
    open_journey = history.open_journey()
    if open_journey is not None:
        raise RecordError("second_open_journey",
                          f"journey: the client's journey {open_journey} is still open")
    last = history.last_discharge()
    if last is not None and record.on < last:
        raise RecordError("journey_overlap",
                          f"on: {record.on} is before the previous discharge on {last}")


def _check_known_journey(history: ClientImportState, record: Any) -> None:
    if record.journey not in history.journey_starts:
        raise RecordError("unknown_journey",
                          f"journey: the client has no journey {record.journey}")


def _check_discharge(history: ClientImportState, record: Any) -> None:
    _check_known_journey(history, record)
    if record.journey in history.journey_ends:
        raise RecordError("journey_closed", f"journey: {record.journey} is already discharged")
    started_on = history.journey_starts[record.journey]
    if record.on < started_on:
        raise RecordError("discharge_before_start",
                          f"on: {record.on} is before the journey's start on {started_on}")


def _check_offence(history: ClientImportState, record: Any) -> None:
    if record.disposal_on < record.offence_on:
        raise RecordError("disposal_before_offence",
                          f"disposal_on: {record.disposal_on} is before offence_on "
                          f"{record.offence_on}")


def _check_death(history: ClientImportState, record: Any) -> None:
    if history.died_on is not None:
        raise RecordError("already_died", f"on: the client's death on {history.died_on} is "
                                          "already recorded")


def _check_correction(history: ClientImportState, record: Any) -> None:
    kind = history.record_types.get(record.retracts)
    if kind is None:
        raise RecordError("unknown_source_id",
                          f"retracts: the client has no record {record.retracts}")
    if kind in ("client_registered", "correction"):
        raise RecordError("not_retractable", f"retracts: a {kind} record cannot be retracted")
    if record.retracts in history.retracted:
        raise RecordError("already_retracted", f"retracts: {record.retracts} is already retracted")


_CHECKS: dict[str, Callable[[ClientImportState, Any], None]] = {
    "treatment_started": _check_start,
    "top_recorded": _check_known_journey,
    "discharged": _check_discharge,
    "proven_offence": _check_offence,
    "died": _check_death,
    "correction": _check_correction,
}
