"""The benchmark's integrity and encryption figures (RULES.md §9), measured in the same run.

- ``verify_events_per_s``: ``pbr verify`` of the benchmark's ledger (every entry recomputed and
  every run's digest checked), beside ``raw_sqlite_read_per_s`` (``verify_vs_raw_read``);
- ``ingest_ratio_unchained`` / ``ingest_ratio_chained``: the same pilot imported into fresh
  files, with the chain's writes switched off and with them (``chain_import_cost`` is the share
  of the import rate the chain costs);
- ``ingest_ratio_encrypted`` / ``rebuild_ratio_encrypted``: the pilot imported into a fresh file
  with a key and its projections rebuilt, against the same raw baselines;
  ``ingest_ratio_plain_twin`` / ``rebuild_ratio_plain_twin``: the same pilot imported (chained,
  as the run's own import is) and rebuilt without a key, measured in alternation with the
  encrypted ones (the pair's order swapped each round, best of the tries each, the rebuilds
  one round more);
  ``*_encrypted_of_plain``: the encrypted ratio over its twin's, in elapsed time (the target: at
  least 0.8); ``*_encrypted_vs_plain_cpu`` the same comparison in processor time (this process
  and its workers, user and system, the least of the tries): what encryption costs in work,
  which a machine shared with other work disturbs far less than elapsed time;
  ``*_encrypted_vs_run`` against the run's own ``ingest_ratio`` / ``rebuild_ratio``, measured
  minutes apart.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
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


_WORK: dict[str, float] = {}  # the processor seconds of the latest import or rebuild, by kind


def _work_seconds() -> float:
    """Processor seconds used so far by this process and its reaped workers."""
    own, workers = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _least_work(kind: str, seconds: float) -> None:
    _WORK[kind] = min(_WORK.get(kind, seconds), seconds)


def _ingest(path: Path, db: Path) -> tuple[Ledger, float]:
    ledger = Ledger(f"sqlite:///{db}")
    ledger.publish_ruleset(example_ruleset_text())
    started, work = time.perf_counter(), _work_seconds()
    report = Importer(ledger).run([path])
    rate = report.accepted / (time.perf_counter() - started)
    for worker in multiprocessing.active_children():  # the import's shaping workers, reaped
        worker.join()  # now so that their time counts here and not in the next measurement
    _WORK["latest import"] = _work_seconds() - work
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


def _rebuild_rate(db: Path, as_of: date) -> float:
    ledger = Ledger(f"sqlite:///{db}")
    try:
        events = ledger.max_position()
        started, work = time.perf_counter(), _work_seconds()
        Projection(ledger).rebuild(as_of)
        rate = events / (time.perf_counter() - started)
        _WORK["latest rebuild"] = _work_seconds() - work
        return rate
    finally:
        ledger.close()


def _in_turn(kinds: list[str], round_: int) -> list[str]:
    """``kinds`` in the order of round ``round_``: its last two (the plain twin and the
    encrypted) swapped every other round, so that neither always goes first."""
    return kinds if round_ % 2 == 0 else [*kinds[:-2], kinds[-1], kinds[-2]]


def _best_imports(pilot: Path, folder: Path, key: str, tries: int,
                  say: Callable[[str], None]) -> dict[str, float]:
    """The best import rate of each kind over ``tries`` rounds, the kinds taken in turn so
    that a busy machine slows each alike."""
    best = {"unchained": 0.0, "chained": 0.0, "encrypted": 0.0}
    for round_ in range(tries):
        for kind in _in_turn(list(best), round_):
            say(f"import {kind} ({round_ + 1}/{tries})")
            db = folder / f"{kind}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            with _key(key if kind == "encrypted" else None), \
                    (_unchained() if kind == "unchained" else nullcontext()):
                ledger, rate = _ingest(pilot, db)
                ledger.close()
            best[kind] = max(best[kind], rate)
            _least_work(f"import {kind}", _WORK["latest import"])
    return best


def measure(pilot: Path, folder: Path, as_of: date, figures: dict[str, Any],
            say: Callable[[str], None], tries: int = 2) -> dict[str, Any]:
    """The integrity keys, from this run's ledger (``folder/ledger.db``) and ``figures``.

    The chain's cost and encryption's are each measured against a twin measured beside it
    (best of ``tries`` each, in turn): the benchmark shares its machine, and a figure taken
    minutes apart from its twin differs by more than what is measured.
    """
    raw_insert, raw_read = figures["raw_sqlite_insert_per_s"], figures["raw_sqlite_read_per_s"]
    say("verify")
    verify_rate = max(_verify_rate(folder / "ledger.db")[0] for _ in range(tries))
    key = generate_key()
    imports = _best_imports(pilot, folder, key, tries, say)
    rebuilds = {"plain": 0.0, "encrypted": 0.0}
    rounds = tries + 1  # a rebuild is short, and its elapsed time swings most with the load
    for round_ in range(rounds):
        say(f"rebuild plain and encrypted ({round_ + 1}/{rounds})")
        for kind in _in_turn(list(rebuilds), round_):
            with _key(key if kind == "encrypted" else None):
                db = folder / ("encrypted.db" if kind == "encrypted" else "chained.db")
                rebuilds[kind] = max(rebuilds[kind], _rebuild_rate(db, as_of))
            _least_work(f"rebuild {kind}", _WORK["latest rebuild"])
    plain_rebuild, encrypted_rebuild = rebuilds["plain"], rebuilds["encrypted"]
    return {
        "verify_events_per_s": round(verify_rate),
        "verify_vs_raw_read": round(verify_rate / raw_read, 3),
        "ingest_ratio_unchained": round(imports["unchained"] / raw_insert, 3),
        "ingest_ratio_chained": round(imports["chained"] / raw_insert, 3),
        "chain_import_cost": round(1 - imports["chained"] / imports["unchained"], 3),
        "ingest_ratio_encrypted": round(imports["encrypted"] / raw_insert, 3),
        "rebuild_ratio_encrypted": round(encrypted_rebuild / raw_read, 3),
        "ingest_ratio_plain_twin": round(imports["chained"] / raw_insert, 3),
        "rebuild_ratio_plain_twin": round(plain_rebuild / raw_read, 3),
        "ingest_encrypted_of_plain": round(imports["encrypted"] / imports["chained"], 3),
        "rebuild_encrypted_of_plain": round(encrypted_rebuild / plain_rebuild, 3),
        "ingest_encrypted_vs_plain_cpu": round(_WORK["import chained"]
                                               / _WORK["import encrypted"], 3),
        "rebuild_encrypted_vs_plain_cpu": round(_WORK["rebuild plain"]
                                                / _WORK["rebuild encrypted"], 3),
        "ingest_encrypted_vs_run": round(imports["encrypted"] / raw_insert
                                         / figures["ingest_ratio"], 3),
        "rebuild_encrypted_vs_run": round(encrypted_rebuild / raw_read
                                          / figures["rebuild_ratio"], 3),
    }
