"""The quarter close: the job a finance team waits for, timed step by step on each backend.

``bench.py`` calls :func:`measure` with its pilot (and its PostgreSQL URL, if given). The pilot is
split by ``received_on`` at a quarter: the latest quarter holding at least half a twelfth of the
file's records (the simulated pilot thins out after its last intake, so this is the last busy
quarter; at seed 2012 it holds about a twelfth of the file). Records received after that quarter
are left out: the ledger stands at the quarter's end.

Set up, untimed, as the quarter's working life leaves the ledger: every record received before
the quarter imported; the previous quarter's payment run taken (projection rebuilt as of that
quarter's end); and, when the quarter opened, the projection rebuilt as of the quarter's end
(``pbr projections rebuild --as-of``), so that the run at the close is served by the tables.

Then the close, each step through the service function its command calls:

- ``quarter_close_import_s``: ``pbr import`` of the quarter's records;
- ``catch_up_s``: the projection caught up (``Projection.catch_up``, as ``pbr projections
  follow`` and every report do): only the clients with new records are derived again;
  ``catch_up_clients_share`` is their share of the ledger's clients, ``catch_up_events_share``
  the share of the ledger's records they hold (each is derived from all its records), and
  ``catch_up_vs_rebuild`` the catch-up's time over ``quarter_rebuild_s``, the rebuild's when the
  quarter opened (which may use a worker per processor; the catch-up derives in one process);
- ``quarter_run_s``: ``pbr payments run`` as of the quarter's end, known on it;
- ``replay_s``: ``pbr payments replay`` of that run (the chain verified up to the run's position,
  then the run recomputed from its recorded inputs and compared);
- ``statement_s``: ``pbr payments show --format xlsx`` of the run (every provider's lines);
- ``verify_s``: ``pbr verify`` of the whole ledger;
- ``quarter_close_s``: their sum.

Beside each, its processor time (``catch_up_cpu_s``, …, ``quarter_close_cpu_s``: this process
and the workers it ended, user and system; on PostgreSQL the server's is not counted), which a
machine shared with other work disturbs far less than elapsed time.

On PostgreSQL the same keys start with ``pg_``; **the database is emptied** first.

On its own, on a pilot kept by ``bench.py --keep``::

    python tests/benchmarks/bench_quarter.py /tmp/k/pilot.jsonl [POSTGRES_URL]
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cli.payment_commands import run_json  # noqa: E402
from cli.statements import write_xlsx  # noqa: E402
from ledger.importer import Importer  # noqa: E402
from ledger.integrity import verify  # noqa: E402
from ledger.rulesets import example_ruleset_text  # noqa: E402
from ledger.runs import find_run, replay_run, take_run  # noqa: E402
from ledger.store import Ledger  # noqa: E402
from ledger.views import Projection  # noqa: E402
from projections.payments import lines_digest  # noqa: E402


def _processor_s() -> float:
    """Processor seconds (user and system) of this process and its ended children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _received(line: str) -> str:
    start = line.index('"received_on":"') + 15
    return line[start:start + 10]


def _client(line: str) -> str:
    start = line.index('"client":"') + 10
    return line[start:line.index('"', start)]


def quarter_of(day: date) -> tuple[date, date]:
    """The first and last day of ``day``'s quarter."""
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    following = date(first.year + (first.month == 10), (first.month + 2) % 12 + 1, 1)
    return first, following - timedelta(days=1)


def choose_quarter(pilot: Path) -> tuple[date, date]:
    """The latest quarter holding at least half a twelfth of the pilot's records."""
    counts: Counter[tuple[date, date]] = Counter()
    with pilot.open() as lines:
        for line in lines:
            counts[quarter_of(date.fromisoformat(_received(line)))] += 1
    enough = sum(counts.values()) / 24
    return max(quarter for quarter, count in counts.items() if count >= enough)


def split(pilot: Path, first: date, last: date, folder: Path) -> tuple[Path, Path, dict]:
    """The records received before the quarter and those received in it, each in its own file
    in the order received; with the counts of records and clients."""
    before, during = folder / "quarter-before.jsonl", folder / "quarter-new.jsonl"
    start, end = first.isoformat(), last.isoformat()
    events: Counter[str] = Counter()  # records per client, in the ledger at the close
    changed: set[str] = set()
    counts = {"before": 0, "new": 0, "file": 0}
    with pilot.open() as lines, before.open("w") as old, during.open("w") as new:
        for line in lines:
            counts["file"] += 1
            received = _received(line)
            if received < start:
                old.write(line)
                counts["before"] += 1
                events[_client(line)] += 1
            elif received <= end:
                new.write(line)
                counts["new"] += 1
                events[_client(line)] += 1
                changed.add(_client(line))
    counts.update(clients=len(events), changed=len(changed), events=sum(events.values()),
                  changed_events=sum(events[client] for client in changed))
    return before, during, counts


def _import(ledger: Ledger, path: Path) -> int:
    report = Importer(ledger).run([path])
    if report.rejected:
        raise SystemExit(f"the quarter's split pilot had {report.rejected} rejected records: "
                         f"{report.rejects[:3]}")
    return report.accepted


def prepare(url: str, before: Path, first: date, last: date, say: Any) -> float:
    """The ledger as the quarter leaves it before its close (untimed but for the seconds of
    the rebuild when the quarter opened, returned)."""
    ledger = Ledger(url)
    ledger.publish_ruleset(example_ruleset_text())
    say("quarter close: importing the records before the quarter")
    _import(ledger, before)
    previous = first - timedelta(days=1)
    say(f"quarter close: the previous quarter's run as of {previous}")
    projection = Projection(ledger)
    projection.rebuild(previous)
    take_run(ledger, previous, previous)
    say(f"quarter close: the projection rebuilt as of {last}, as when the quarter opened")
    started = time.perf_counter()
    projection.rebuild(last)
    rebuild_s = time.perf_counter() - started
    ledger.close()
    return rebuild_s


def close(url: str, new: Path, last: date, statement: Path, say: Any) -> dict[str, Any]:
    """The timed close: each step's seconds, and what it produced."""
    steps: dict[str, float] = {}
    work_s: dict[str, float] = {}

    def timed(key: str, message: str, work: Any) -> Any:
        say(f"quarter close: {message}")
        started, worked = time.perf_counter(), _processor_s()
        found = work()
        steps[key] = time.perf_counter() - started
        work_s[f"{key[:-2]}_cpu_s"] = _processor_s() - worked
        return found

    ledger = Ledger(url)
    accepted = timed("quarter_close_import_s", "importing the quarter's records",
                     lambda: _import(ledger, new))
    timed("catch_up_s", "catching the projection up", Projection(ledger).catch_up)
    run = timed("quarter_run_s", f"payment run as of {last}", lambda: take_run(ledger, last, last))

    def replay() -> bool:  # as `pbr payments replay` does
        recorded = find_run(ledger, run.run_id)
        assert recorded is not None
        if not verify(ledger, at=recorded.position).ok:
            raise SystemExit("quarter close: the chain does not verify before the replay")
        lines, recomputed = replay_run(ledger, recorded)
        return lines_digest(recomputed) == recorded.digest and lines == recomputed

    identical = timed("replay_s", "replaying the run", replay)

    def write_statement() -> None:  # as `pbr payments show --format xlsx` does
        recorded = find_run(ledger, run.run_id)
        assert recorded is not None
        write_xlsx(run_json(recorded), statement)

    timed("statement_s", "writing the run's xlsx statement", write_statement)
    verified = timed("verify_s", "verifying the chain", lambda: verify(ledger))
    ledger.close()
    if not identical or not verified.ok:
        raise SystemExit(f"quarter close: replay identical {identical}, verified {verified.ok}")
    return {"quarter_close_s": round(sum(steps.values()), 2),
            **{key: round(seconds, 2) for key, seconds in steps.items()},
            "quarter_close_cpu_s": round(sum(work_s.values()), 2),
            **{key: round(seconds, 2) for key, seconds in work_s.items()},
            "quarter_close_accepted": accepted, "quarter_run_lines": len(run.lines),
            "quarter_statement_kb": round(statement.stat().st_size / 1024)}


def _prefixed(say: Any, prefix: str) -> Any:
    return lambda message: say(f"{prefix}{message}")


def measure(pilot: Path, folder: Path, postgres: str | None = None,
            say: Any = lambda _: None) -> dict[str, Any]:
    """The quarter close on SQLite and, with ``postgres``, on PostgreSQL (``pg_`` keys)."""
    first, last = choose_quarter(pilot)
    before, new, counts = split(pilot, first, last, folder)
    result: dict[str, Any] = {
        "quarter": f"{first.year}Q{(first.month + 2) // 3}",
        "quarter_close_records": counts["new"],
        "quarter_close_records_share": round(counts["new"] / counts["file"], 3),
        "catch_up_clients_share": round(counts["changed"] / counts["clients"], 3),
        "catch_up_events_share": round(counts["changed_events"] / counts["events"], 3),
    }
    db = folder / "quarter.db"
    db.unlink(missing_ok=True)
    backends = [("", f"sqlite:///{db}")]
    if postgres:
        from tests.reliability.common import fresh_database
        backends.append(("pg_", postgres))
    for prefix, url in backends:
        if prefix:
            url = fresh_database(url)
        told = _prefixed(say, prefix)
        rebuild_s = prepare(url, before, first, last, told)
        figures = close(url, new, last, folder / f"{prefix}quarter-statement.xlsx", told)
        figures["quarter_rebuild_s"] = round(rebuild_s, 2)
        figures["catch_up_vs_rebuild"] = round(figures["catch_up_s"] / rebuild_s, 3)
        result.update({f"{prefix}{key}": value for key, value in figures.items()})
    return result


def main() -> None:
    pilot = Path(sys.argv[1])
    postgres = sys.argv[2] if len(sys.argv) > 2 else None
    with tempfile.TemporaryDirectory(prefix="pbr-quarter-") as temporary:
        result = measure(pilot, Path(temporary), postgres,
                         lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", file=sys.stderr))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
