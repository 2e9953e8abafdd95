"""The benchmark's integrity and encryption figures (RULES.md §9), measured in the same run.

- ``verify_events_per_s``: ``pbr verify`` of the benchmark's ledger (every entry recomputed and
  every run's digest checked), beside ``raw_sqlite_read_per_s`` (``verify_vs_raw_read``);
- ``ingest_ratio_unchained`` / ``ingest_ratio_chained``: the same pilot imported into two fresh
  files, one with the chain's writes switched off, one with them (``chain_import_cost`` is the
  share of the import rate the chain costs);
- ``ingest_ratio_encrypted`` / ``rebuild_ratio_encrypted``: the pilot imported into a fresh file
  with a key and its projections rebuilt, against the same raw baselines
  (``*_encrypted_vs_plain``: against the run's unencrypted ``ingest_ratio`` / ``rebuild_ratio``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from ledger import chain
from ledger.cipher import KEY_VARIABLE, generate_key
from ledger.importer import Importer
from ledger.integrity import verify
from ledger.rulesets import example_ruleset_text
from ledger.store import Ledger
from ledger.views import Projection


@contextmanager
def _key(key: str | None):
    old = os.environ.pop(KEY_VARIABLE, None)
    if key:
        os.environ[KEY_VARIABLE] = key
    try:
        yield
    finally:
        os.environ.pop(KEY_VARIABLE, None)
        if old is not None:
            os.environ[KEY_VARIABLE] = old


@contextmanager
def _unchained():
    extend = chain.extend
    chain.extend = lambda *args, **kwargs: None
    try:
        yield
    finally:
        chain.extend = extend


def _ingest(path: Path, db: Path) -> tuple[Ledger, float]:
    ledger = Ledger(f"sqlite:///{db}")
    ledger.publish_ruleset(example_ruleset_text())
    started = time.perf_counter()
    report = Importer(ledger).run([path])
    rate = report.accepted / (time.perf_counter() - started)
    assert report.rejected == 0
    return ledger, rate


def _verify_rate(db: Path) -> tuple[float, int]:
    ledger = Ledger(f"sqlite:///{db}", create=False)
    try:
        started = time.perf_counter()
        found = verify(ledger)
        elapsed = time.perf_counter() - started
    finally:
        ledger.close()
    assert found.ok, found.problem
    return found.events / elapsed, found.events


def measure(pilot: Path, folder: Path, as_of: date, figures: dict[str, Any],
            say: Callable[[str], None]) -> dict[str, Any]:
    """The integrity keys, from this run's ledger (``folder/ledger.db``) and ``figures``."""
    raw_insert, raw_read = figures["raw_sqlite_insert_per_s"], figures["raw_sqlite_read_per_s"]
    say("verify")
    verify_rate, _ = _verify_rate(folder / "ledger.db")

    say("import without the chain")
    with _unchained():
        ledger, unchained = _ingest(pilot, folder / "unchained.db")
    ledger.close()
    say("import with the chain")
    ledger, chained = _ingest(pilot, folder / "chained.db")
    ledger.close()

    say("import and rebuild encrypted")
    with _key(generate_key()):
        ledger, encrypted = _ingest(pilot, folder / "encrypted.db")
        events = ledger.max_position()
        started = time.perf_counter()
        Projection(ledger).rebuild(as_of)
        rebuild_encrypted = events / (time.perf_counter() - started)
        ledger.close()
    ingest_ratio_encrypted = encrypted / raw_insert
    rebuild_ratio_encrypted = rebuild_encrypted / raw_read
    return {
        "verify_events_per_s": round(verify_rate),
        "verify_vs_raw_read": round(verify_rate / raw_read, 3),
        "ingest_ratio_unchained": round(unchained / raw_insert, 3),
        "ingest_ratio_chained": round(chained / raw_insert, 3),
        "chain_import_cost": round(1 - chained / unchained, 3),
        "ingest_ratio_encrypted": round(ingest_ratio_encrypted, 3),
        "rebuild_ratio_encrypted": round(rebuild_ratio_encrypted, 3),
        "ingest_encrypted_vs_plain": round(ingest_ratio_encrypted / figures["ingest_ratio"], 3),
        "rebuild_encrypted_vs_plain": round(rebuild_ratio_encrypted / figures["rebuild_ratio"],
                                            3),
    }
