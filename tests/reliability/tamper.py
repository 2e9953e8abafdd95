"""Tamper cases: each kind of change an auditor tried, made on a real ledger, caught by verify.

    python tests/reliability/tamper.py [--postgres URL] [--clients 120] [--key] [--json]

For every case a fresh ledger is built (a simulated pilot imported, the example ruleset
published, two payment runs taken), one change is made straight in the database, as someone with
write access would, and ``pbr verify`` must name the first bad position with the right reason.
Prints per backend the tries and how many were detected at the right position and reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import create_engine, text  # noqa: E402

from ledger.cipher import KEY_VARIABLE  # noqa: E402
from ledger.importer import Importer  # noqa: E402
from ledger.integrity import _entry_of, verify  # noqa: E402
from ledger.rulesets import example_ruleset_text  # noqa: E402
from ledger.runs import RUN_TOPIC, take_run  # noqa: E402
from ledger.simulation import write_pilot  # noqa: E402
from ledger.store import Ledger  # noqa: E402
from tests.reliability.common import fresh_database  # noqa: E402

SEED = 12
RUN_DATES = (date(2013, 6, 30), date(2014, 3, 31))


@dataclass(frozen=True)
class Built:
    """A fresh ledger: its URL, its last position and head, the runs' positions."""

    url: str
    head: tuple[int, str]
    runs: list[int]


def split_pilot(pilot: Path) -> tuple[Path, Path]:
    """The pilot's records received by the last run's date, and those received after it."""
    before, after = pilot.with_suffix(".before.jsonl"), pilot.with_suffix(".after.jsonl")
    last = RUN_DATES[-1].isoformat()
    with pilot.open() as lines, before.open("w") as early, after.open("w") as late:
        for line in lines:
            (early if json.loads(line)["received_on"] <= last else late).write(line)
    return before, after


def build(url: str, pilot: Path) -> Built:
    """Records received by the last run's date, the runs, then the later records."""
    ledger = Ledger(url)
    try:
        ledger.publish_ruleset(example_ruleset_text())
        early, late = split_pilot(pilot)
        report = Importer(ledger).run([early])
        assert report.rejected == 0, report.rejects[:3]
        for as_of in RUN_DATES:
            take_run(ledger, as_of, as_of)
        report = Importer(ledger).run([late])
        assert report.rejected == 0, report.rejects[:3]
        found = verify(ledger)
        assert found.ok, found.problem
        runs = [at for at, _ in ledger.notifications(topics=[RUN_TOPIC])]
        return Built(url, (found.head[0], found.head[1].hex()), runs)
    finally:
        ledger.close()


# What a tamperer does, in SQL ------------------------------------------------------------------


def _one(connection: Any, sql: str, **params: Any) -> Any:
    return connection.execute(text(sql), params).first()


def _event_of(connection: Any, topic_end: str, nth: int = 0) -> int:
    rows = connection.execute(text("SELECT id FROM ledger_events WHERE topic LIKE :t ORDER BY id"),
                              {"t": "%" + topic_end}).all()
    return int(rows[min(nth, len(rows) - 1)][0])


def _flip_byte(connection: Any, position: int, offset: int = 40) -> None:
    state = bytearray(_one(connection, "SELECT state FROM ledger_events WHERE id = :p",
                           p=position)[0])
    state[offset % len(state)] ^= 0x01
    connection.execute(text("UPDATE ledger_events SET state = :s WHERE id = :p"),
                       {"s": bytes(state), "p": position})


def _change_run_line(connection: Any, position: int) -> None:
    """A run line's amount changed (plain ledger), else one byte of the run (encrypted)."""
    state = bytes(_one(connection, "SELECT state FROM ledger_events WHERE id = :p",
                       p=position)[0])
    amount = re.search(rb'"payment","(\d)', state)
    if amount is not None:  # the 1000.00 made 9000.00: the first payment's first digit
        changed = state[:amount.start(1)] + b"9" + state[amount.end(1):]
    if amount is None or changed == state:
        _flip_byte(connection, position, len(state) // 2)
        return
    connection.execute(text("UPDATE ledger_events SET state = :s WHERE id = :p"),
                       {"s": changed, "p": position})


def rewrite_chain(connection: Any, start: int) -> None:
    """What a tamperer who knows the chain's rule does next: recompute every entry from
    ``start`` on, so the chain agrees with the changed store."""
    before = _one(connection, "SELECT hash FROM pbr_chain WHERE position < :p "
                              "ORDER BY position DESC LIMIT 1", p=start)
    previous = bytes(before[0]) if before else bytes(32)
    stream = ("uuid_send(originator_id)" if connection.dialect.name == "postgresql"
              else "originator_id")
    rows = connection.execute(text(
        f"SELECT id, {stream}, originator_version, topic, state FROM ledger_events "
        "WHERE id >= :p ORDER BY id"), {"p": start}).all()
    for row in rows:
        previous = _entry_of(previous, int(row[0]), tuple(row))
        connection.execute(text("UPDATE pbr_chain SET hash = :h WHERE position = :p"),
                           {"h": previous, "p": int(row[0])})


# The cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    reason: str
    tamper: Callable[[Any, Built], int]  # makes the change; the position verify must name
    at_head: bool = False  # checked with --at/--head (the head printed before the change)


def _top_byte(connection: Any, built: Built) -> int:
    position = _event_of(connection, "TopRecorded", 7)
    _flip_byte(connection, position)
    return position


def _deleted(topic_end: str) -> Callable[[Any, Built], int]:
    def tamper(connection: Any, built: Built) -> int:
        position = _event_of(connection, topic_end, 3)
        connection.execute(text("DELETE FROM ledger_events WHERE id = :p"), {"p": position})
        return position
    return tamper


def _run_line(connection: Any, built: Built) -> int:
    _change_run_line(connection, built.runs[-1])
    return built.runs[-1]


def _run_line_rechained(connection: Any, built: Built) -> int:
    _change_run_line(connection, built.runs[-1])
    rewrite_chain(connection, built.runs[-1])
    return built.runs[-1]


def _top_byte_rechained_before_runs(connection: Any, built: Built) -> int:
    position = _event_of(connection, "TopRecorded", 5)
    _flip_byte(connection, position)
    rewrite_chain(connection, position)
    return built.runs[0]  # the first run rests on a head the chain no longer has


def _top_byte_rechained_after_runs(connection: Any, built: Built) -> int:
    rows = connection.execute(text("SELECT id FROM ledger_events WHERE topic LIKE :t AND "
                                   "id > :r ORDER BY id"),
                              {"t": "%TopRecorded", "r": built.runs[-1]}).all()
    position = int(rows[len(rows) // 2][0])
    _flip_byte(connection, position)
    rewrite_chain(connection, position)
    return built.head[0]  # no run rests on it: only a head printed earlier shows it


def _entry_changed(connection: Any, built: Built) -> int:
    position = built.head[0] // 2
    connection.execute(text("UPDATE pbr_chain SET hash = :h WHERE position = :p"),
                       {"h": hashlib.sha256(b"forged").digest(), "p": position})
    return position


def _entry_deleted(connection: Any, built: Built) -> int:
    position = built.head[0] // 3
    connection.execute(text("DELETE FROM pbr_chain WHERE position = :p"), {"p": position})
    return position


def _inserted(connection: Any, built: Built) -> int:
    source = _event_of(connection, "Discharged", 2)
    connection.execute(text(
        "INSERT INTO ledger_events (originator_id, originator_version, topic, state) "
        "SELECT originator_id, originator_version + 1000, topic, state FROM ledger_events "
        "WHERE id = :p"), {"p": source})
    return int(_one(connection, "SELECT max(id) FROM ledger_events")[0])


def _moved(connection: Any, built: Built) -> int:
    position = _event_of(connection, "ProvenOffence", 1)
    connection.execute(text("UPDATE ledger_events SET id = :n WHERE id = :p"),
                       {"n": built.head[0] + 50, "p": position})
    return position


def _swapped(connection: Any, built: Built) -> int:
    first = _event_of(connection, "TopRecorded", 2)
    second = _event_of(connection, "TopRecorded", 9)
    spare = built.head[0] + 100
    for old, new in ((first, spare), (second, first), (spare, second)):
        connection.execute(text("UPDATE ledger_events SET id = :n WHERE id = :p"),
                           {"n": new, "p": old})
    return first


def _state_swapped(connection: Any, built: Built) -> int:
    first = _event_of(connection, "TopRecorded", 3)
    second = _event_of(connection, "TopRecorded", 11)
    states = {p: _one(connection, "SELECT state FROM ledger_events WHERE id = :p", p=p)[0]
              for p in (first, second)}
    for position, other in ((first, second), (second, first)):
        connection.execute(text("UPDATE ledger_events SET state = :s WHERE id = :p"),
                           {"s": states[other], "p": position})
    return first


CASES = (
    Case("a byte of a stored TOP changed", "event_changed", _top_byte),
    Case("a proven offence deleted", "event_missing", _deleted("ProvenOffence")),
    Case("a discharge deleted", "event_missing", _deleted("Discharged")),
    Case("a run line's amount changed", "event_changed", _run_line),
    Case("a run line changed and the chain recomputed", "run_lines_changed", _run_line_rechained),
    Case("a TOP changed and the chain recomputed (a run rests on it)", "run_head_differs",
         _top_byte_rechained_before_runs),
    Case("a TOP changed after the runs and the chain recomputed (the printed head)",
         "head_differs", _top_byte_rechained_after_runs, at_head=True),
    Case("a chain entry changed", "chain_entry_changed", _entry_changed),
    Case("a chain entry deleted", "chain_entry_missing", _entry_deleted),
    Case("an event added", "event_inserted", _inserted),
    Case("an event moved to another position", "event_moved", _moved),
    Case("two events swapped", "event_moved", _swapped),
    Case("two events' states swapped", "event_changed", _state_swapped),
)


# Running them --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    case: str
    backend: str
    expected: tuple[int, str]
    found: tuple[int, str] | None

    @property
    def detected(self) -> bool:
        return self.found == self.expected


def run_case(case: Case, url: str, pilot: Path, backend: str) -> Outcome:
    built = build(url, pilot)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            position = case.tamper(connection, built)
    finally:
        engine.dispose()
    ledger = Ledger(url, create=False, keyless=True)
    try:
        found = (verify(ledger, built.head[0], built.head[1]) if case.at_head
                 else verify(ledger))
    finally:
        ledger.close()
    problem = found.problem
    return Outcome(case.name, backend, (position, case.reason),
                   None if problem is None else (problem.position, problem.reason))


def fresh_sqlite(folder: Path) -> Iterator[str]:
    for n in range(len(CASES)):
        yield f"sqlite:///{folder / f'tamper-{n}.db'}"


def fresh_postgres(url: str) -> Iterator[str]:
    """The same database, its public schema emptied before each case."""
    while True:
        yield fresh_database(url)


def run_cases(urls: Iterator[str], pilot: Path, backend: str) -> list[Outcome]:
    return [run_case(case, next(urls), pilot, backend) for case in CASES]


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    by_backend: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        figures = by_backend.setdefault(outcome.backend, {"tries": 0, "detected": 0,
                                                          "missed": []})
        figures["tries"] += 1
        figures["detected"] += outcome.detected
        if not outcome.detected:
            figures["missed"].append({"case": outcome.case, "expected": outcome.expected,
                                      "found": outcome.found})
    return by_backend


@contextmanager
def cipher_key(key: str | None) -> Iterator[None]:
    old = os.environ.get(KEY_VARIABLE)
    if key:
        os.environ[KEY_VARIABLE] = key
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(KEY_VARIABLE, None)
        else:
            os.environ[KEY_VARIABLE] = old


def main() -> None:
    import tempfile

    from ledger.cipher import generate_key

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="also on this PostgreSQL database (emptied!)")
    parser.add_argument("--clients", type=int, default=120)
    parser.add_argument("--key", action="store_true", help="with encryption on")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pbr-tamper-") as folder, \
            cipher_key(generate_key() if args.key else None):
        pilot = Path(folder) / "pilot.jsonl"
        write_pilot(args.clients, SEED, pilot)
        outcomes = run_cases(fresh_sqlite(Path(folder)), pilot, "sqlite")
        if args.postgres:
            outcomes += run_cases(fresh_postgres(args.postgres), pilot, "postgresql")
    figures = summary(outcomes)
    if args.json:
        print(json.dumps(figures))
    else:
        for outcome in outcomes:
            mark = "detected" if outcome.detected else "MISSED"
            print(f"{outcome.backend:10}  {mark:8}  {outcome.case}: expected "
                  f"{outcome.expected}, found {outcome.found}")
        for backend, numbers in figures.items():
            print(f"{backend}: {numbers['tries']} tries, {numbers['detected']} detected")
    sys.exit(0 if all(o.detected for o in outcomes) else 1)


if __name__ == "__main__":
    main()
