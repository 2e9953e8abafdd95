"""The diagnostics benchmark's keys, on a small ledger (the full run is the benchmark's)."""

from __future__ import annotations

from datetime import date

from ledger.importer import Importer
from ledger.rulesets import example_ruleset_text
from ledger.simulation import write_pilot
from ledger.store import Ledger
from tests.benchmarks.bench_diagnostics import diagnostics_keys


def test_the_benchmark_times_one_quarter_of_diagnostics_against_the_payment_run(tmp_path):
    pilot = tmp_path / "pilot.jsonl"
    write_pilot(200, 1, pilot)
    ledger = Ledger(f"sqlite:///{tmp_path / 'pbr.db'}")
    ledger.publish_ruleset(example_ruleset_text())
    assert Importer(ledger).run([pilot]).rejected == 0
    keys = diagnostics_keys(ledger, date(2015, 6, 30), payment_run_s=0.5)
    ledger.close()
    assert set(keys) == {"diagnostics_s", "diagnostics_vs_payment_run"}
    assert keys["diagnostics_s"] > 0
    assert abs(keys["diagnostics_vs_payment_run"] * 0.5 - keys["diagnostics_s"]) < 0.01
