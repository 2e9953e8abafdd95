"""Import: files of records (JSON Lines or CSV) checked line by line and appended in batches.

Each line is checked for its shape (:mod:`ledger.records`), then against the ledger: a known
client, a known journey, one open journey, dates in order, and its ``source_id`` (a duplicate is
skipped, the same id with other content is a conflict). Valid records are appended in batches
that commit atomically together with their ``source_id`` index rows, so an interrupted import
leaves only whole batches, and running it again completes it with no duplicates.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.events import RECORD_EVENTS, ClientHistory
from ledger.records import (
    RecordError,
    digest,
    event_fields,
    from_csv_row,
    own_dates,
    validate_record,
)
from ledger.store import Ledger

BATCH_SIZE = 5000


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
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as error:
        raise UnreadableInput(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise UnreadableInput(f"{path}: not UTF-8 text") from None
    if path.suffix.lower() == ".csv":
        yield from _csv_lines(str(path), text)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
        except json.JSONDecodeError as error:
            data = RecordError("not_json", f"line: not JSON ({error.msg})")
        yield Line(str(path), number, line, data)


def _csv_lines(name: str, text: str) -> Iterator[Line]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "type" not in reader.fieldnames:
        raise UnreadableInput(f"{name}: a CSV file needs a header row with a 'type' column")
    for row in reader:
        if None in row:
            data: Any = RecordError("invalid_field", "line: more cells than header columns")
        else:
            data = from_csv_row(row)
        yield Line(name, reader.line_num, ",".join(c or "" for c in row.values()), data)


class Importer:
    """Checks records against the ledger and appends them in atomic batches."""

    def __init__(self, ledger: Ledger, batch_size: int = BATCH_SIZE) -> None:
        self.ledger = ledger
        self.batch_size = batch_size
        self.clients: dict[str, ClientHistory | None] = {}
        self.seen: dict[str, tuple[str, str]] = {}  # source_id -> (client, digest), this import
        self.report = ImportReport()

    def run(self, paths: list[Path], progress: Callable[[int], None] | None = None) -> ImportReport:
        for path in paths:
            if not path.is_file():
                raise UnreadableInput(f"{path}: no such file")
        paths_order = {str(path): n for n, path in enumerate(paths)}
        for path in paths:
            batch: list[Line] = []
            for line in read_lines(path):
                batch.append(line)
                if len(batch) >= self.batch_size:
                    self._import_batch(batch)
                    if progress:
                        progress(len(batch))
                    batch = []
            if batch:
                self._import_batch(batch)
                if progress:
                    progress(len(batch))
        self.report.rejects.sort(key=lambda r: (paths_order[r.file], r.line))
        return self.report

    def _import_batch(self, lines: list[Line]) -> None:
        checked = [(line, self._shape(line)) for line in lines]
        records = [record for _, record in checked if record is not None]
        known = self.ledger.known_source_ids(record.source_id for record in records)
        self._load_clients(record.client for record in records)
        touched: dict[str, ClientHistory] = {}
        index_rows: list[dict[str, str]] = []
        accepted = 0
        for line, record in checked:
            if record is None:
                continue
            try:
                content = digest(record)
                if self._is_duplicate(record.source_id, record.client, content, known):
                    self.report.duplicates += 1
                    continue
                aggregate = self._append(record)
            except RecordError as error:
                self._reject(line, record.source_id, error)
                continue
            touched[record.client] = aggregate
            self.seen[record.source_id] = (record.client, content)
            index_rows.append({"source_id": record.source_id, "client": record.client,
                               "digest": content})
            accepted += 1
        if touched:
            self.ledger.save_batch(list(touched.values()), index_rows)
        self.report.accepted += accepted

    def _shape(self, line: Line) -> Any:
        if isinstance(line.data, RecordError):
            self._reject(line, None, line.data)
            return None
        try:
            return validate_record(line.data)
        except RecordError as error:
            source_id = line.data.get("source_id") if isinstance(line.data, dict) else None
            self._reject(line, source_id if isinstance(source_id, str) else None, error)
            return None

    def _reject(self, line: Line, source_id: str | None, error: RecordError) -> None:
        self.report.rejects.append(Reject(line.file, line.number, source_id, error.code,
                                          error.reason, line.text))

    def _is_duplicate(self, source_id: str, client: str, content: str,
                      known: dict[str, tuple[str, str]]) -> bool:
        previous = self.seen.get(source_id) or known.get(source_id)
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
            self.clients.update({client: loaded.get(client) for client in missing})

    def _append(self, record: Any) -> ClientHistory:
        """Check the record against its client's state and append it; the aggregate back."""
        history = self.clients[record.client]
        if record.type == "client_registered":
            if history is not None:
                raise RecordError("already_registered",
                                  f"client: {record.client} is already registered")
            if record.date_of_birth > record.received_on:
                raise RecordError("date_after_received",
                                  "date_of_birth: later than received_on")
            history = ClientHistory(**event_fields(record))
            self.clients[record.client] = history
            return history
        if history is None:
            raise RecordError("unregistered_client", f"client: {record.client} is not registered")
        check_record(history, record)
        history.trigger_event(RECORD_EVENTS[record.type], **event_fields(record))
        return history


def check_record(history: ClientHistory, record: Any) -> None:
    """CONTRACT.md's checks of a record against the client's stream; raise a named reason."""
    for name, day in own_dates(record):
        if day > record.received_on:
            raise RecordError("date_after_received",
                              f"{name}: {day} is later than received_on {record.received_on}")
        if day < history.date_of_birth:
            raise RecordError("date_before_birth",
                              f"{name}: {day} is before the client's date of birth")
    checks = {
        "treatment_started": _check_start,
        "top_recorded": _check_known_journey,
        "discharged": _check_discharge,
        "proven_offence": _check_offence,
        "died": _check_death,
        "correction": _check_correction,
    }
    check = checks.get(record.type)
    if check is not None:
        check(history, record)


def _check_start(history: ClientHistory, record: Any) -> None:
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


def _check_known_journey(history: ClientHistory, record: Any) -> None:
    if record.journey not in history.journey_starts:
        raise RecordError("unknown_journey",
                          f"journey: the client has no journey {record.journey}")


def _check_discharge(history: ClientHistory, record: Any) -> None:
    _check_known_journey(history, record)
    if record.journey in history.journey_ends:
        raise RecordError("journey_closed", f"journey: {record.journey} is already discharged")
    started_on = history.journey_starts[record.journey].on
    if record.on < started_on:
        raise RecordError("discharge_before_start",
                          f"on: {record.on} is before the journey's start on {started_on}")


def _check_offence(history: ClientHistory, record: Any) -> None:
    if record.disposal_on < record.offence_on:
        raise RecordError("disposal_before_offence",
                          f"disposal_on: {record.disposal_on} is before offence_on "
                          f"{record.offence_on}")


def _check_death(history: ClientHistory, record: Any) -> None:
    if history.died_on is not None:
        raise RecordError("already_died", f"on: the client's death on {history.died_on} is "
                                          "already recorded")


def _check_correction(history: ClientHistory, record: Any) -> None:
    kind = history.record_types.get(record.retracts)
    if kind is None:
        raise RecordError("unknown_source_id",
                          f"retracts: the client has no record {record.retracts}")
    if kind in ("client_registered", "correction"):
        raise RecordError("not_retractable", f"retracts: a {kind} record cannot be retracted")
    if record.retracts in history.retracted:
        raise RecordError("already_retracted", f"retracts: {record.retracts} is already retracted")
