"""The commissioner's tools at scale (RULES.md §11, §12): ``pbr compare`` of two rulesets and
``pbr forecast``, timed in the benchmark's run beside its full payment run.

``bench.py`` calls :func:`measure` on its ledger once the projection is rebuilt and the payment
run taken. Keys:

- ``compare_s``: the published example ruleset against one of the draft's options that sets
  some outcomes differently (``COMPARED``: 3.1 and 3.2 counting trigger offences only, so only
  the clients with a proven offence are derived again), as ``pbr compare`` runs it;
- ``compare_other_s``: against ``COMPARED_OTHER``, which changes 1.2 only (every client derived
  for it, none of its TOPs read);
- ``compare_relapse_s``: against another relapse policy (``COMPARED_RELAPSE``): every outcome of
  the clients with more than one journey derived again;
- ``compare_full_s``: against 1.2's 18-month window (``COMPARED_FULL``), which changes 1.2 and
  the recovery cycles, so every outcome of every client is derived again: the worst case;
- ``forecast_s``: ``pbr forecast`` as of the projection's date, four periods;
- ``compare_ratio``, ``compare_other_ratio``, ``compare_relapse_ratio``, ``compare_full_ratio``,
  ``forecast_ratio``: each divided by the same run's ``payment_run_s`` (the acceptance bound
  is 2).

On its own, against a ledger kept by ``bench.py --keep``::

    python tests/benchmarks/bench_commissioning.py sqlite:////tmp/k/ledger.db 2015-11-06
"""

from __future__ import annotations

import sys
import time
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ledger.compare import compare, load_rulesets  # noqa: E402
from ledger.forecast import forecast_document  # noqa: E402
from ledger.store import Ledger  # noqa: E402

COMPARED = "option-trigger-offences-only"
COMPARED_OTHER = "option-final-single-payment"
COMPARED_RELAPSE = "option-relapse-never"
COMPARED_FULL = "option-final-window-18m"


def option_path(name: str) -> str:
    return str(resources.files("ledger").joinpath(f"data/options/{name}.toml"))


def timed_compare(ledger: Ledger, option: str, as_of: date) -> tuple[float, dict]:
    started = time.perf_counter()
    rulesets = load_rulesets(ledger, ["example-2012", option_path(option)])
    document = compare(ledger, rulesets, as_of, as_of)
    return time.perf_counter() - started, document


def measure(ledger: Ledger, as_of: date, payment_run_s: float,
            say: Any = lambda _: None) -> dict[str, Any]:
    say(f"compare example-2012 {COMPARED}")
    compare_s, document = timed_compare(ledger, COMPARED, as_of)
    say(f"compare example-2012 {COMPARED_OTHER}")
    compare_other_s, _ = timed_compare(ledger, COMPARED_OTHER, as_of)
    say(f"compare example-2012 {COMPARED_RELAPSE}")
    compare_relapse_s, _ = timed_compare(ledger, COMPARED_RELAPSE, as_of)
    say(f"compare example-2012 {COMPARED_FULL}")
    compare_full_s, _ = timed_compare(ledger, COMPARED_FULL, as_of)
    say("forecast")
    started = time.perf_counter()
    forecast = forecast_document(ledger, as_of, 4)
    forecast_s = time.perf_counter() - started
    return {
        "compare_s": round(compare_s, 2),
        "compare_ratio": round(compare_s / payment_run_s, 2),
        "compare_first_from_projection": document["first_from_projection"],
        "compare_other_s": round(compare_other_s, 2),
        "compare_other_ratio": round(compare_other_s / payment_run_s, 2),
        "compare_relapse_s": round(compare_relapse_s, 2),
        "compare_relapse_ratio": round(compare_relapse_s / payment_run_s, 2),
        "compare_full_s": round(compare_full_s, 2),
        "compare_full_ratio": round(compare_full_s / payment_run_s, 2),
        "forecast_s": round(forecast_s, 2),
        "forecast_ratio": round(forecast_s / payment_run_s, 2),
        "forecast_from_projection": forecast["from_projection"],
    }


def main() -> None:
    url, day = sys.argv[1], date.fromisoformat(sys.argv[2])
    from ledger.runs import preview_run
    from ledger.views import Projection

    ledger = Ledger(url, create=False)
    projection = Projection(ledger)
    if projection.as_of() != day or not projection.has_commissioning_rows():
        projection.rebuild(day)
    started = time.perf_counter()
    preview_run(ledger, day, day)
    payment_run_s = time.perf_counter() - started
    result = {"payment_run_s": round(payment_run_s, 2),
              **measure(ledger, day, payment_run_s, lambda m: print(m, file=sys.stderr))}
    for key, value in result.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
