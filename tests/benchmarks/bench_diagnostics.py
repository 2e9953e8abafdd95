"""The diagnostics benchmark (``diagnostics_s``): ``pbr diagnostics`` for one quarter.

Measured in the benchmark's run, on its ledger, right after its payment run, so the ratio
``diagnostics_vs_payment_run`` compares the two on the same rows and the same machine (the
issue's target: at most 2). It times what the command does: read every client's records, build
each history as of the quarter's last day, tally, flag and write the JSON document.
"""

from __future__ import annotations

import io
import time
from contextlib import redirect_stdout
from datetime import date
from typing import Any

from cli.common import print_json
from cli.diagnostics_commands import period_from_options
from ledger.baselines import read_baseline
from ledger.diagnostics import diagnose_ledger, diagnostics_json
from ledger.simulation import PILOT_END
from ledger.store import Ledger


def diagnostics_seconds(ledger: Ledger, quarter_end: date, known_on: date) -> float:
    """Seconds for ``pbr diagnostics --as-of QUARTER_END --known-on K``: the quarter that ends
    on ``quarter_end``."""
    started = time.perf_counter()
    baseline = read_baseline(None)
    period = period_from_options(quarter_end, None, None)
    found = diagnose_ledger(ledger, [period], known_on, baseline)
    with redirect_stdout(io.StringIO()):
        print_json(diagnostics_json(found, baseline, by_quarter=False))
    return time.perf_counter() - started


def diagnostics_keys(ledger: Ledger, as_of: date, payment_run_s: float) -> dict[str, Any]:
    """The pilot's last quarter (January to March 2015, its busiest for discharges), known on
    the run's date, beside the payment run's seconds."""
    seconds = diagnostics_seconds(ledger, PILOT_END, as_of)
    return {"diagnostics_s": round(seconds, 2),
            "diagnostics_vs_payment_run": round(seconds / payment_run_s, 2)}
