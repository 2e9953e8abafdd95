"""SIGKILL during import, measured: an import killed at a random moment after its first commit,
then run again. Nothing may be lost, duplicated or half written.

Run: ``python -m tests.reliability.crash [--sqlite-kills 20] [--postgres-kills 5]
[--postgres URL]``; it prints one JSON document of figures per backend. The PostgreSQL database
given is emptied.

- ``partial_batches``: kills after which the ledger held anything but whole batches (or the
  source-id index disagreed with the events);
- ``records_lost`` / ``duplicated``: after importing the file again, records of the file not
  stored / stored more than once; ``failures``: tries with any of these, or a second import that
  did not exit 0 with honest counts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ledger.importer import BATCH_SIZE
from ledger.store import Ledger
from tests.reliability.common import backends, client_records, pbr_process, source_id_count

CLIENTS = 12_000  # two records each: 24,000 lines, five batches, shaped by worker processes


def one_kill(url: str, path: Path, records: int, rng: random.Random) -> dict[str, Any]:
    ledger = Ledger(url)
    try:
        process = pbr_process("import", path, "--db", url, "--json")
        deadline = time.monotonic() + 300
        while ledger.max_position() == 0 and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.5))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=120)
        killed_at = ledger.max_position()
    finally:
        ledger.close()
    problems = []
    if killed_at % BATCH_SIZE or source_id_count(url) != killed_at:
        problems.append(f"{killed_at} events after the kill: not whole batches")
    again = pbr_process("import", path, "--db", url, "--json")
    out, err = again.communicate(timeout=900)
    ledger = Ledger(url, create=False)
    stored = ledger.max_position()
    ledger.close()
    if again.returncode != 0 or "Traceback" in err:
        problems.append(f"the second import: exit {again.returncode}: {err.strip()[:200]}")
    else:
        document = json.loads(out)
        if (document["accepted"], document["duplicates"]) != (records - killed_at, killed_at):
            problems.append(f"the second import counted {document['accepted']} accepted and "
                            f"{document['duplicates']} duplicates after {killed_at} stored")
    if source_id_count(url) != stored:
        problems.append("the source-id index and the events disagree")
    return {"problems": problems, "mid_file": 0 < killed_at < records,
            "partial": bool(killed_at % BATCH_SIZE), "lost": max(0, records - stored),
            "duplicated": max(0, stored - records)}


def measure(kills: dict[str, int], postgres: str | None, clients: int = CLIENTS,
            seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    figures = []
    with tempfile.TemporaryDirectory() as scratch:
        path = client_records(Path(scratch) / "big.jsonl", range(clients))
        for backend, fresh in backends(Path(scratch), postgres):
            row: dict[str, Any] = {"backend": backend, "tries": kills[backend],
                                   "killed_mid_file": 0, "failures": 0, "partial_batches": 0,
                                   "records_lost": 0, "duplicated": 0, "problems": []}
            started = time.monotonic()
            for _ in range(kills[backend]):
                result = one_kill(fresh(), path, 2 * clients, rng)  # type: ignore[operator]
                row["killed_mid_file"] += result["mid_file"]
                row["failures"] += bool(result["problems"])
                row["partial_batches"] += result["partial"]
                row["records_lost"] += result["lost"]
                row["duplicated"] += result["duplicated"]
                row["problems"] += result["problems"]
            row["seconds"] = round(time.monotonic() - started, 1)
            figures.append(row)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("PBR_TEST_POSTGRES_URL"),
                        help="a PostgreSQL database to empty and use (default: "
                             "$PBR_TEST_POSTGRES_URL; SQLite only without one)")
    parser.add_argument("--sqlite-kills", type=int, default=20)
    parser.add_argument("--postgres-kills", type=int, default=5)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    options = parser.parse_args(argv)
    figures = measure({"sqlite": options.sqlite_kills, "postgresql": options.postgres_kills},
                      options.postgres, options.clients)
    sys.stdout.write(json.dumps({"crash": figures}) + "\n")
    return 1 if any(row["failures"] for row in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
