"""The benchmark on PostgreSQL: the same pilot, the same rows, against that server's own best.

Called by ``bench.py --postgres URL`` after the SQLite figures, in the same measuring process:

- ``pg_ingest_events_per_s``: ``pbr import`` of the pilot into an empty ledger on ``URL``;
- ``pg_raw_copy_per_s``: psycopg binary ``COPY`` of the ledger's own stored rows (same number,
  same bytes, read back from the ledger just written) into a table of the same shape (same
  columns and types, same unique index), one ``COPY`` and one commit per batch of the importer's
  size — the physical best that server offers for those rows in those transactions (a binary
  copy of these rows measured about 1.45 times as fast as a text one);
- ``pg_rebuild_events_per_s``: the projection rebuild, against ``pg_raw_read_per_s``: a plain
  psycopg read of every stored row (server-side cursor) with ``json.loads`` of each state;
- ``pg_payment_run_s``: a full payment run as of the pilot's last received date.

**The database at URL is emptied** (its ``public`` schema dropped and made again): give it one
kept for measuring.
"""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import psycopg

from ledger.importer import BATCH_SIZE, Importer
from ledger.rulesets import example_ruleset_text
from ledger.runs import take_run
from ledger.store import Ledger
from ledger.views import Projection
from tests.reliability.common import fresh_database

_COLUMNS = "originator_id, originator_version, topic, state"
_TYPES = ("uuid", "int8", "text", "bytea")  # the ledger's own columns' types


def _psycopg_url(url: str) -> str:
    """The URL as psycopg takes it (without SQLAlchemy's ``+psycopg`` driver name)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def raw_copy(url: str, events_table: str) -> float:
    """Rows per second: ``COPY`` of the ledger's stored rows into a table shaped like its own.

    Read a batch at a time from the ledger (never all in memory); only the copies and commits
    are timed.
    """
    with psycopg.connect(_psycopg_url(url)) as source, \
            psycopg.connect(_psycopg_url(url)) as target:
        target.execute("DROP TABLE IF EXISTS pbr_bench_raw")
        target.execute("CREATE TABLE pbr_bench_raw (id BIGSERIAL PRIMARY KEY, "
                       "originator_id UUID NOT NULL, originator_version BIGINT NOT NULL, "
                       "topic TEXT NOT NULL, state BYTEA NOT NULL)")
        target.execute("CREATE UNIQUE INDEX pbr_bench_raw_aggregate_idx "
                       "ON pbr_bench_raw (originator_id, originator_version)")
        target.commit()
        elapsed, count = 0.0, 0
        with source.cursor(name="pbr_bench_rows") as rows:
            rows.execute(f"SELECT {_COLUMNS} FROM {events_table} ORDER BY id")
            while batch := rows.fetchmany(BATCH_SIZE):
                started = time.perf_counter()
                with target.cursor() as cursor, cursor.copy(
                        f"COPY pbr_bench_raw ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(_TYPES)
                    for row in batch:
                        copy.write_row(row)
                target.commit()
                elapsed += time.perf_counter() - started
                count += len(batch)
        target.execute("DROP TABLE pbr_bench_raw")
        target.commit()
    return count / elapsed


def raw_read(url: str, events_table: str) -> float:
    """Rows per second: a plain psycopg read of the stored events and ``json.loads`` of each."""
    with psycopg.connect(_psycopg_url(url)) as connection:
        started = time.perf_counter()
        count = 0
        with connection.cursor(name="pbr_bench_read") as rows:
            rows.itersize = 5000
            rows.execute(f"SELECT id, {_COLUMNS} FROM {events_table} ORDER BY id")
            for row in rows:
                json.loads(row[4])
                count += 1
        elapsed = time.perf_counter() - started
    return count / elapsed


def bench_postgres(pilot: Any, url: str, as_of: date, say: Any) -> dict[str, Any]:
    """The PostgreSQL figures for ``pilot``, each beside its baseline of the same run."""
    fresh_database(url)
    ledger = Ledger(url)
    ledger.publish_ruleset(example_ruleset_text())
    events_table = ledger.recorder.events_record_cls.__table__.fullname  # type: ignore[attr-defined]

    say("postgresql: importing")
    started = time.perf_counter()
    report = Importer(ledger).run([pilot])
    ingest_s = time.perf_counter() - started
    if report.rejected:
        raise SystemExit(f"the pilot had {report.rejected} rejected records on PostgreSQL")
    events = ledger.max_position()
    say("postgresql: raw copy")
    copy_rate = raw_copy(url, events_table)

    say("postgresql: rebuilding projections")
    started = time.perf_counter()
    Projection(ledger).rebuild(as_of)
    rebuild_s = time.perf_counter() - started
    say("postgresql: raw read")
    read_rate = raw_read(url, events_table)

    say("postgresql: payment run")
    started = time.perf_counter()
    run = take_run(ledger, as_of, as_of)
    payment_run_s = time.perf_counter() - started
    ledger.close()

    ingest_rate = report.accepted / ingest_s
    rebuild_rate = events / rebuild_s
    return {
        "pg_ingest_events_per_s": round(ingest_rate),
        "pg_raw_copy_per_s": round(copy_rate),
        "pg_ingest_ratio": round(ingest_rate / copy_rate, 3),
        "pg_rebuild_events_per_s": round(rebuild_rate),
        "pg_raw_read_per_s": round(read_rate),
        "pg_rebuild_ratio": round(rebuild_rate / read_rate, 3),
        "pg_payment_run_s": round(payment_run_s, 2),
        "pg_payment_run_lines": len(run.lines),
        "pg_ingest_s": round(ingest_s, 1),
        "pg_rebuild_s": round(rebuild_s, 1),
    }
