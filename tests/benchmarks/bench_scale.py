"""The rebuild with one worker and with two against one PostgreSQL database (docs/scale.md).

``bench.py --postgres URL`` calls :func:`measure` on the PostgreSQL ledger its PostgreSQL figures
left (the whole pilot imported there). The projection is rebuilt twice as of the same date:

- ``pg_rebuild_1_worker_s``: in the measuring process alone (``Projection.rebuild(workers=1)``:
  one process reads, derives and writes);
- ``pg_rebuild_2_workers_s``: with two forked workers, each deriving ranges of stream ids over its
  own connection, the parent writing their rows (``workers=2``);
- ``pg_rebuild_workers_speedup``: the first divided by the second;
- ``pg_rebuild_1_worker_cpu_s``, ``pg_rebuild_2_workers_parent_cpu_s`` and
  ``pg_rebuild_2_workers_workers_cpu_s``: processor time (user and system) of the measuring
  process and of the workers: what the part that stays in one process (receiving and writing
  the rows, making the indexes) costs against the part the workers share. The database
  server's own processor time is not counted (it serves other work on this machine too).

On its own, against a ledger kept by an earlier run::

    python tests/benchmarks/bench_scale.py postgresql://postgres@127.0.0.1:5432/DB 2015-11-06
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ledger.store import Ledger  # noqa: E402
from ledger.views import Projection  # noqa: E402


def _cpu() -> tuple[float, float]:
    """Processor seconds of this process and of its ended children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def timed_rebuild(url: str, as_of: date, workers: int) -> tuple[float, float, float]:
    """Seconds, this process's processor seconds and the workers' for one rebuild."""
    ledger = Ledger(url, create=False)
    projection = Projection(ledger)
    own, children = _cpu()
    started = time.perf_counter()
    projection.rebuild(as_of, workers=workers)
    elapsed = time.perf_counter() - started
    own_after, children_after = _cpu()
    ledger.close()
    return elapsed, own_after - own, children_after - children


def measure(url: str, as_of: date, say: Any = lambda _: None) -> dict[str, Any]:
    say("postgresql: rebuilding with 1 worker")
    one_s, one_cpu, _ = timed_rebuild(url, as_of, 1)
    say("postgresql: rebuilding with 2 workers")
    two_s, parent_cpu, workers_cpu = timed_rebuild(url, as_of, 2)
    return {"pg_rebuild_1_worker_s": round(one_s, 2),
            "pg_rebuild_2_workers_s": round(two_s, 2),
            "pg_rebuild_workers_speedup": round(one_s / two_s, 2),
            "pg_rebuild_1_worker_cpu_s": round(one_cpu, 2),
            "pg_rebuild_2_workers_parent_cpu_s": round(parent_cpu, 2),
            "pg_rebuild_2_workers_workers_cpu_s": round(workers_cpu, 2)}


def main() -> None:
    figures = measure(sys.argv[1], date.fromisoformat(sys.argv[2]),
                      lambda message: print(message, file=sys.stderr))
    for key, value in figures.items():
        print(f"{key:38} {value}")


if __name__ == "__main__":
    main()
