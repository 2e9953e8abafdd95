"""Concurrent use, measured with real processes: two imports of overlapping files at once, several
commands creating a new ledger at once, and two payment runs taken at once.

Run: ``python -m tests.reliability.concurrency [--postgres URL] [--tries N]``; it prints one
JSON document of figures per backend and case. The PostgreSQL database given is emptied.

- imports: both exit 0 without a traceback; together they store the union of the two files
  exactly once (records lost = union not stored, duplicated = stored beyond it), and their
  counts are honest (accepted add up to the union, duplicates to the overlap);
- stores: every command creating the ledger at once exits 0 and its records are stored;
- runs: one run is recorded; the other is recorded after it or refused with one line naming
  ``run_taken_concurrently`` (exit 2); never a traceback, never two runs with the same id.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ledger.rulesets import example_ruleset_text
from ledger.store import Ledger
from tests.reliability.common import backends, client_records, pbr_process, source_id_count


def _outcomes(processes: list) -> list[tuple[int, str, str]]:
    done = [p.communicate(timeout=900) for p in processes]
    return [(p.returncode, out, err) for p, (out, err) in zip(processes, done, strict=True)]


def import_race(url: str, folder: Path, clients: int) -> dict[str, Any]:
    """Two imports of files sharing half their clients, started together."""
    half = clients // 2
    first = client_records(folder / "a.jsonl", range(0, clients))
    second = client_records(folder / "b.jsonl", range(half, half + clients))
    union, overlap = 2 * (half + clients), 2 * (clients - half)
    Ledger(url).close()
    results = _outcomes([pbr_process("import", path, "--db", url, "--json")
                         for path in (first, second)])
    problems = [f"exit {code}: {err.strip()[:200]}" for code, _, err in results
                if code != 0 or err.strip()]  # a clean import prints nothing on stderr
    documents = [json.loads(out) for code, out, _ in results if code == 0]
    ledger = Ledger(url, create=False)
    stored = ledger.max_position()
    ledger.close()
    if len(documents) == 2:
        if sum(d["accepted"] for d in documents) != union:
            problems.append(f"accepted {[d['accepted'] for d in documents]} for a union of "
                            f"{union}")
        if sum(d["duplicates"] for d in documents) != overlap:
            problems.append(f"duplicates {[d['duplicates'] for d in documents]} for an overlap "
                            f"of {overlap}")
    if source_id_count(url) != stored:
        problems.append("the source-id index and the events disagree")
    return {"problems": problems, "lost": max(0, union - stored),
            "duplicated": max(0, stored - union),
            "retried": sum(d.get("retried", 0) for d in documents)}


def store_race(url: str, folder: Path, processes: int = 3) -> dict[str, Any]:
    """Several imports into a ledger that does not exist yet, started together."""
    paths = [client_records(folder / f"s{n}.jsonl", range(50), prefix=f"S{n}-")
             for n in range(processes)]
    results = _outcomes([pbr_process("import", path, "--db", url, "--json") for path in paths])
    problems = [f"exit {code}: {err.strip()[:200]}" for code, _, err in results
                if code != 0 or "Traceback" in err]
    ledger = Ledger(url, create=False)
    stored = ledger.max_position()
    ledger.close()
    expected = 100 * processes
    return {"problems": problems, "lost": max(0, expected - stored),
            "duplicated": max(0, stored - expected)}


def run_race(url: str, folder: Path, clients: int) -> dict[str, Any]:
    """Two payment runs as of the same date, started together."""
    client_records(folder / "r.jsonl", range(clients))
    (folder / "ruleset.toml").write_text(example_ruleset_text())
    for args in (["import", folder / "r.jsonl"], ["rules", "publish", folder / "ruleset.toml"]):
        process = pbr_process(*args, "--db", url)
        process.communicate(timeout=900)
    results = _outcomes([pbr_process("payments", "run", "--as-of", "2013-06-30", "--db", url,
                                     "--json") for _ in range(2)])
    problems = []
    for code, _, err in results:
        if "Traceback" in err or code not in (0, 2):
            problems.append(f"exit {code}: {err.strip()[:200]}")
        elif code == 2 and ("run_taken_concurrently" not in err or err.count("\n") != 1):
            problems.append(f"refused without its reason: {err.strip()[:200]}")
    recorded = [json.loads(out)["run"] for code, out, _ in results if code == 0]
    if not recorded:
        problems.append("no run was recorded")
    if len(set(recorded)) != len(recorded):
        problems.append(f"two runs recorded as {recorded}")
    process = pbr_process("payments", "list", "--json", "--db", url)
    listed = json.loads(process.communicate(timeout=900)[0])["runs"]
    if len(listed) != len(recorded):
        problems.append(f"{len(listed)} runs listed, {len(recorded)} reported recorded")
    return {"problems": problems, "lost": 0, "duplicated": max(0, len(listed) - len(recorded)),
            "refused": sum(code == 2 for code, _, _ in results)}


CASES = {"imports": import_race, "stores": store_race, "runs": run_race}


def measure(tries: int, postgres: str | None, clients: int = 6000) -> list[dict[str, Any]]:
    figures = []
    with tempfile.TemporaryDirectory() as scratch:
        for backend, fresh in backends(Path(scratch), postgres):
            for case, function in CASES.items():
                row: dict[str, Any] = {"backend": backend, "case": case, "tries": tries,
                                       "failures": 0, "records_lost": 0, "duplicated": 0,
                                       "problems": []}
                for attempt in range(tries):
                    folder = Path(scratch) / f"{backend}-{case}-{attempt}"
                    folder.mkdir()
                    kwargs = {} if case == "stores" else {"clients": clients}
                    result = function(fresh(), folder, **kwargs)  # type: ignore[operator]
                    row["failures"] += bool(result["problems"])
                    row["records_lost"] += result["lost"]
                    row["duplicated"] += result["duplicated"]
                    row["problems"] += result["problems"]
                    for extra in ("refused", "retried"):
                        if extra in result:
                            row[extra] = row.get(extra, 0) + result[extra]
                figures.append(row)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("PBR_TEST_POSTGRES_URL"),
                        help="a PostgreSQL database to empty and use (default: "
                             "$PBR_TEST_POSTGRES_URL; SQLite only without one)")
    parser.add_argument("--tries", type=int, default=4)
    parser.add_argument("--clients", type=int, default=6000)
    options = parser.parse_args(argv)
    figures = measure(options.tries, options.postgres, options.clients)
    sys.stdout.write(json.dumps({"concurrency": figures}) + "\n")
    return 1 if any(row["failures"] for row in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
