"""An import killed mid-file leaves whole batches only; importing again completes it exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.importer import BATCH_SIZE
from ledger.store import Ledger
from tests.records_io import reg, start, write_jsonl

CLIENTS = 15_000  # two records each: several batches, a few seconds of work


def _records() -> list:
    records: list = []
    for n in range(CLIENTS):
        records += [reg(f"K{n}"), start(f"K{n}")]
    records.insert(7, "this line is not JSON")  # one invalid line, rejected every time
    return records


def _import(path: Path, db_url: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.Popen([sys.executable, "-m", "cli.main", "import", str(path), "--db",
                             db_url, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)


def _wait_for_a_committed_batch(ledger: Ledger, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while ledger.max_position() == 0:
        assert process.poll() is None, "the import finished before it could be interrupted"
        assert time.monotonic() < deadline, "no batch was committed in time"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_import_completes_exactly_when_run_again(db_url, tmp_path, how):
    path = write_jsonl(tmp_path / "big.jsonl", _records())
    ledger = Ledger(db_url)
    process = _import(path, db_url)
    _wait_for_a_committed_batch(ledger, process)
    process.send_signal(how)
    process.wait(timeout=60)
    interrupted_at = ledger.max_position()
    assert 0 < interrupted_at < 2 * CLIENTS, "the kill did not land mid-file"
    # Only whole batches were written: the first holds the invalid line, so 4,999 records.
    assert (interrupted_at + 1) % BATCH_SIZE == 0

    again = _import(path, db_url)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 1, err  # the one invalid line is rejected again
    assert ledger.max_position() == 2 * CLIENTS  # exactly one event per valid record
    assert len(ledger.known_source_ids([f"reg-K{n}" for n in range(CLIENTS)])) == CLIENTS
    ledger.close()
