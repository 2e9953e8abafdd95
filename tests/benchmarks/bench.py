"""National-scale benchmark: ingest, rebuild, explain and a payment run on one SQLite file.

    python tests/benchmarks/bench.py --clients 300000 [--json] [--naive-clients 10000]

In one run: simulates a pilot of N clients (``pbr simulate``, in a child process: the input is
not the product's work), imports it into a fresh SQLite file, rebuilds the projection tables,
explains a sample of clients and takes a payment run, and measures beside each the baselines
named in the issue, on the same rows in the same run:

- ``raw_sqlite_insert_per_s``: plain ``sqlite3.executemany`` of the ledger's own stored rows (same
  number, same bytes) into a table of the same shape (same columns, same unique index), in
  transactions of the importer's batch size;
- ``raw_sqlite_read_per_s``: plain ``sqlite3`` read of those rows with ``json.loads`` of each;
- ``naive_ingest_events_per_s`` / ``naive_rebuild_events_per_s``: the library used plainly on a
  sample of clients — one ``save`` per record, then one event-store read per client (what
  ``repository.get`` does) followed by the pure derivation.

Then the quarter close (``bench_quarter.py``: ``quarter_close_s`` and its steps) on each backend,
and with ``--postgres`` the rebuild with one worker and with two (``bench_scale.py``).

``peak_rss_mb`` is the largest resident size of this process or of any of its workers.

Beside them, what bounds the rebuild: ``naive_read_us_per_event`` and ``derive_us_per_event``
split the naive rebuild's time between the event-store reads and the derivation, and
``rebuild_ratio_ceiling`` / ``rebuild_vs_naive_ceiling`` are the figures a rebuild would reach if
it read as fast as the plain read, wrote for nothing and kept every processor busy, with this
run's derivation (:func:`ceilings`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cli.outcome_commands import _explanation_text  # noqa: E402
from ledger.events import RECORD_EVENTS, ClientHistory  # noqa: E402
from ledger.explanations import explain_client  # noqa: E402
from ledger.importer import BATCH_SIZE, Importer, check_record, read_lines  # noqa: E402
from ledger.records import event_fields, validate_record  # noqa: E402
from ledger.rulesets import example_ruleset_text  # noqa: E402
from ledger.runs import take_run  # noqa: E402
from ledger.store import Ledger  # noqa: E402
from ledger.views import Projection  # noqa: E402
from projections.engine import derive_client  # noqa: E402
from tests.benchmarks import bench_integrity, bench_quarter, bench_scale  # noqa: E402
from tests.benchmarks.bench_commissioning import measure as measure_commissioning  # noqa: E402
from tests.benchmarks.bench_postgres import bench_postgres  # noqa: E402
from tests.benchmarks.bench_web import web_pages  # noqa: E402

SEED = 2012
EXPLAIN_SAMPLE = 300


def simulate(clients: int, out: Path) -> None:
    subprocess.run([sys.executable, "-m", "cli.main", "simulate", "--clients", str(clients),
                    "--seed", str(SEED), "--out", str(out)], check=True,
                   cwd=Path(__file__).resolve().parents[2], stdout=subprocess.DEVNULL)


def last_received(path: Path) -> date:
    latest = ""
    with path.open() as lines:
        for line in lines:
            start = line.index('"received_on":"') + 15
            latest = max(latest, line[start:start + 10])
    return date.fromisoformat(latest)


def ingest(ledger: Ledger, path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    report = Importer(ledger).run([path])
    elapsed = time.perf_counter() - started
    if report.rejected:
        raise SystemExit(f"the simulated pilot had {report.rejected} rejected records: "
                         f"{report.rejects[:3]}")
    return report.accepted, elapsed


def raw_insert(db: Path, folder: Path) -> float:
    """Rows per second: plain executemany into a table shaped like the ledger's.

    The ledger's own stored rows (same number, same bytes), read a batch at a time so they are
    never all in memory; only the inserts and commits are timed.
    """
    source = sqlite3.connect(db)
    rows = source.execute("SELECT originator_id, originator_version, topic, state "
                          "FROM ledger_events ORDER BY id")
    connection = sqlite3.connect(folder / "raw.db")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE ledger_events (id INTEGER NOT NULL PRIMARY KEY, "
                       "originator_id BINARY(16) NOT NULL, originator_version INTEGER NOT NULL, "
                       "topic TEXT NOT NULL, state BLOB NOT NULL)")
    connection.execute("CREATE UNIQUE INDEX ledger_events_aggregate_idx "
                       "ON ledger_events (originator_id, originator_version)")
    connection.commit()
    elapsed, count = 0.0, 0
    while batch := rows.fetchmany(BATCH_SIZE):
        started = time.perf_counter()
        connection.executemany("INSERT INTO ledger_events (originator_id, originator_version, "
                               "topic, state) VALUES (?, ?, ?, ?)", batch)
        connection.commit()
        elapsed += time.perf_counter() - started
        count += len(batch)
    connection.close()
    source.close()
    return count / elapsed


def raw_read(db: Path) -> float:
    """Rows per second: plain sqlite3 read of the stored events and json.loads of each."""
    connection = sqlite3.connect(db)
    started = time.perf_counter()
    count = 0
    for row in connection.execute("SELECT id, originator_id, originator_version, topic, state "
                                  "FROM ledger_events ORDER BY id"):
        json.loads(row[4])
        count += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


def sample_file(path: Path, clients: int, out: Path) -> set[str]:
    """The records of the first ``clients`` clients of the pilot, in the order received."""
    chosen = {f"C{number:06d}" for number in range(1, clients + 1)}
    with path.open() as lines, out.open("w") as sample:
        for line in lines:
            start = line.index('"client":"') + 10
            if line[start:line.index('"', start)] in chosen:
                sample.write(line)
    return chosen


def naive_ingest(path: Path, url: str) -> tuple[int, float]:
    """The library used plainly: repository.get, trigger, save — once per record."""
    ledger = Ledger(url)
    ledger.publish_ruleset(example_ruleset_text())
    count = 0
    started = time.perf_counter()
    for line in read_lines(path):
        record = validate_record(line.data)
        if record.type == "client_registered":
            ledger.save(ClientHistory(**event_fields(record)))
        else:
            history = ledger.client(record.client)
            check_record(history, record)
            history.trigger_event(RECORD_EVENTS[record.type], **event_fields(record))
            ledger.save(history)
        count += 1
    elapsed = time.perf_counter() - started
    ledger.close()
    return count, elapsed


def naive_rebuild(url: str, clients: set[str], as_of: date) -> tuple[int, float, float]:
    """One event-store read per client, then the pure derivation: the events, and the seconds
    spent reading and deriving."""
    ledger = Ledger(url)
    rulesets = ledger.rulesets()
    count, reading, deriving = 0, 0.0, 0.0
    for client in sorted(clients):
        started = time.perf_counter()
        events = ledger.client_events(client)
        read = time.perf_counter()
        derive_client(events, rulesets, as_of, as_of)
        reading += read - started
        deriving += time.perf_counter() - read
        count += len(events)
    ledger.close()
    return count, reading, deriving


def ceilings(cpus: int, raw_read_s: float, naive_read_s: float, derive_s: float,
             ) -> dict[str, float]:
    """The best a rebuild could do on ``cpus`` processors with this run's derivation, per event.

    Each argument but ``cpus`` is seconds per event. A rebuild must at least read every event
    and derive every client, the same derivation the naive path runs; the ceilings grant it a
    read as cheap as the plain read, writing and handing over for nothing, and every processor
    busy all the time: ``cpus / (raw_read + derive)`` events per second.
    """
    best = cpus / (raw_read_s + derive_s)
    return {"rebuild_ratio_ceiling": round(best * raw_read_s, 3),
            "rebuild_vs_naive_ceiling": round(best * (naive_read_s + derive_s), 1)}


def explain_ms(ledger: Ledger, clients: list[str], as_of: date) -> float:
    """Median milliseconds to explain a client as ``pbr explain`` does: read its stream, derive
    it, find the corrections that changed it and the run lines that paid it, write the text."""
    timings = []
    for client in clients:
        started = time.perf_counter()
        explained = explain_client(ledger, client, as_of, as_of)
        assert explained is not None
        text = "\n\n".join(_explanation_text(e) for e in explained.explanations)
        timings.append((time.perf_counter() - started) * 1000)
        assert text
    return statistics.median(timings)


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def bench(pilot: Path, clients: int, naive_clients: int, folder: Path,
          say: Any, postgres: str | None = None) -> dict[str, Any]:
    as_of = last_received(pilot)
    db = folder / "ledger.db"
    ledger = Ledger(f"sqlite:///{db}")
    ledger.publish_ruleset(example_ruleset_text())

    say("importing")
    accepted, ingest_s = ingest(ledger, pilot)
    events = ledger.max_position()
    say("raw sqlite insert")
    raw_insert_rate = raw_insert(db, folder)

    say("rebuilding projections")
    started = time.perf_counter()
    Projection(ledger).rebuild(as_of)
    rebuild_s = time.perf_counter() - started
    say("raw sqlite read")
    raw_read_rate = raw_read(db)

    say("explaining")
    sample = random.Random(SEED).sample(range(1, clients + 1), min(EXPLAIN_SAMPLE, clients))
    explain_p50 = explain_ms(ledger, [f"C{n:06d}" for n in sample], as_of)

    say("payment run")
    started = time.perf_counter()
    run = take_run(ledger, as_of, as_of)
    payment_run_s = time.perf_counter() - started
    commissioning = measure_commissioning(ledger, as_of, payment_run_s, say)
    say("diagnostics")
    from tests.benchmarks.bench_diagnostics import diagnostics_keys  # its own module
    measured = diagnostics_keys(ledger, as_of, payment_run_s)
    ledger.close()

    say(f"naive path on {min(naive_clients, clients):,} clients")
    naive_pilot = folder / "naive.jsonl"
    chosen = sample_file(pilot, min(naive_clients, clients), naive_pilot)
    naive_url = f"sqlite:///{folder / 'naive.db'}"
    naive_count, naive_s = naive_ingest(naive_pilot, naive_url)
    naive_events, naive_read_s, derive_s = naive_rebuild(naive_url, chosen, as_of)
    naive_rebuild_rate = naive_events / (naive_read_s + derive_s)

    peak = peak_rss_mb()  # the ledger's own work; the web view's pages come after
    say("web pages")
    ledger = Ledger(f"sqlite:///{db}")
    web = web_pages(ledger, [f"C{n:06d}" for n in sample[:100]], run.run_id, as_of)
    ledger.close()

    ingest_rate = accepted / ingest_s
    rebuild_rate = events / rebuild_s
    cpus = len(os.sched_getaffinity(0))
    on_postgres = {} if postgres is None else postgres_figures(pilot, postgres, as_of, cpus,
                                                              derive_s / naive_events, say)
    per_event = {"raw_read_s": 1 / raw_read_rate, "naive_read_s": naive_read_s / naive_events,
                 "derive_s": derive_s / naive_events}
    result = {
        "clients": clients,
        "events": events,
        "as_of": as_of.isoformat(),
        "ingest_events_per_s": round(ingest_rate),
        "raw_sqlite_insert_per_s": round(raw_insert_rate),
        "ingest_ratio": round(ingest_rate / raw_insert_rate, 3),
        "rebuild_events_per_s": round(rebuild_rate),
        "raw_sqlite_read_per_s": round(raw_read_rate),
        "rebuild_ratio": round(rebuild_rate / raw_read_rate, 3),
        "naive_sample_clients": len(chosen),
        "naive_ingest_events_per_s": round(naive_count / naive_s),
        "naive_rebuild_events_per_s": round(naive_rebuild_rate),
        "ingest_vs_naive": round(ingest_rate / (naive_count / naive_s), 1),
        "rebuild_vs_naive": round(rebuild_rate / naive_rebuild_rate, 1),
        "naive_read_us_per_event": round(per_event["naive_read_s"] * 1e6, 2),
        "derive_us_per_event": round(per_event["derive_s"] * 1e6, 2),
        **ceilings(cpus, **per_event),
        "explain_ms_p50": round(explain_p50, 2),
        "payment_run_s": round(payment_run_s, 2),
        "payment_run_lines": len(run.lines),
        **commissioning,
        **measured,
        "ingest_s": round(ingest_s, 1),
        "rebuild_s": round(rebuild_s, 1),
        **on_postgres,
        "peak_rss_mb": peak,
        "cpus": cpus,
        **web,
        "web_peak_rss_mb": peak_rss_mb(),
    }
    result.update(bench_integrity.measure(pilot, folder, as_of, result, say))
    result.update(bench_quarter.measure(pilot, folder, postgres, say))
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def postgres_figures(pilot: Path, url: str, as_of: date, cpus: int, derive_s: float,
                     say: Any) -> dict[str, Any]:
    """The PostgreSQL figures (:mod:`bench_postgres`), with the rebuild's ceiling on that server:
    the plain psycopg read in place of the plain SQLite read (:func:`ceilings`)."""
    figures = bench_postgres(pilot, url, as_of, say)
    figures.update(bench_scale.measure(url, as_of, say))  # on the ledger those figures left
    raw_read_s = 1 / figures["pg_raw_read_per_s"]
    ceiling = cpus / (raw_read_s + derive_s) * raw_read_s
    figures["pg_rebuild_ratio_ceiling"] = round(ceiling, 3)
    figures["pg_rebuild_of_ceiling"] = round(figures["pg_rebuild_ratio"] / ceiling, 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=30_000)
    parser.add_argument("--naive-clients", type=int, default=10_000,
                        help="clients in the sample the naive figures come from")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep its files")
    parser.add_argument("--postgres", metavar="URL",
                        help="also measure on this PostgreSQL database (it is emptied)")
    parser.add_argument("--pilot", type=Path, help=argparse.SUPPRESS)  # the measuring child
    args = parser.parse_args()

    def say(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    if args.pilot is not None:
        result = bench(args.pilot, args.clients, args.naive_clients, args.pilot.parent, say,
                       args.postgres)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="pbr-bench-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        pilot = folder / "pilot.jsonl"
        say(f"simulating {args.clients:,} clients")
        simulate(args.clients, pilot)
        # Measured in a child of its own, so peak memory is the product's, not the simulator's.
        measured = subprocess.run(
            [sys.executable, __file__, "--pilot", str(pilot), "--clients", str(args.clients),
             "--naive-clients", str(args.naive_clients),
             *(["--postgres", args.postgres] if args.postgres else [])],
            check=True, stdout=subprocess.PIPE, text=True)
        result = json.loads(measured.stdout)
    if args.json:
        print(json.dumps(result))
    else:
        width = max(map(len, result))
        for key, value in result.items():
            print(f"{key.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
