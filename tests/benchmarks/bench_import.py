"""Import throughput on SQLite: ``pbr import``'s batched path against plain library use.

    python tests/benchmarks/bench_import.py --records 100000 [--json]

Writes a file of valid records (registrations, treatment starts, TOPs, discharges), imports
it into a fresh SQLite file with the ledger's importer, then imports the same file into
another fresh SQLite file the plain way: each record checked the same way, its client's
aggregate got from the repository and saved on its own (one transaction per record).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ledger.events import RECORD_EVENTS, ClientHistory  # noqa: E402
from ledger.importer import Importer, check_record, read_lines  # noqa: E402
from ledger.records import event_fields, validate_record  # noqa: E402
from ledger.store import Ledger  # noqa: E402


def write_records(path: Path, count: int) -> int:
    """About ``count`` records: five per client."""
    lines = []
    for n in range(count // 5):
        client, journey = f"B{n}", "J1"
        base = {"received_on": "2013-06-30", "client": client}
        lines += [
            {"type": "client_registered", "source_id": f"r{n}", "site": f"S{n % 8}",
             "date_of_birth": "1980-05-05", **base},
            {"type": "treatment_started", "source_id": f"s{n}", "journey": journey,
             "provider": f"P{n % 24}", "on": "2012-04-10", "substances": ["opiates"],
             "injecting": n % 3 == 0, "housing": "none", "hepb_vaccination_needed": False,
             **base},
            {"type": "top_recorded", "source_id": f"t{n}a", "journey": journey,
             "on": "2012-10-05", "stage": "review", "days_used": {"opiates": n % 4},
             "injecting_days": 0, "psychological_health": 12, **base},
            {"type": "top_recorded", "source_id": f"t{n}b", "journey": journey,
             "on": "2013-01-20", "stage": "review", "days_used": {"opiates": 0}, **base},
            {"type": "discharged", "source_id": f"d{n}", "journey": journey, "on": "2013-03-01",
             "reason": "completed_drug_free", **base},
        ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return len(lines)


def batched(path: Path, db: Path) -> float:
    ledger = Ledger(f"sqlite:///{db}")
    started = time.perf_counter()
    report = Importer(ledger).run([path])
    elapsed = time.perf_counter() - started
    assert report.rejected == 0, report.rejects[:3]
    ledger.close()
    return elapsed


def one_save_per_record(path: Path, db: Path) -> float:
    """The library used plainly: repository.get, trigger, save — once per record."""
    ledger = Ledger(f"sqlite:///{db}")
    started = time.perf_counter()
    for line in read_lines(path):
        record = validate_record(line.data)
        if record.type == "client_registered":
            ledger.save(ClientHistory(**event_fields(record)))
            continue
        history = ledger.client(record.client)
        check_record(history, record)
        history.trigger_event(RECORD_EVENTS[record.type], **event_fields(record))
        ledger.save(history)
    elapsed = time.perf_counter() - started
    ledger.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        count = write_records(work / "records.jsonl", args.records)
        fast = batched(work / "records.jsonl", work / "batched.db")
        plain = one_save_per_record(work / "records.jsonl", work / "plain.db")
    result = {"records": count, "import_records_per_s": round(count / fast),
              "one_save_per_record_records_per_s": round(count / plain),
              "speedup": round(plain / fast, 1)}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:36} {value}")


if __name__ == "__main__":
    main()
