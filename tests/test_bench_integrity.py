"""The benchmark's integrity and encryption keys: one small run prints each of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent / "benchmarks" / "bench.py"
INTEGRITY_KEYS = {
    "verify_events_per_s", "verify_vs_raw_read", "ingest_ratio_unchained",
    "ingest_ratio_chained", "chain_import_cost", "ingest_ratio_encrypted",
    "rebuild_ratio_encrypted", "ingest_ratio_plain_twin", "rebuild_ratio_plain_twin",
    "ingest_encrypted_of_plain", "rebuild_encrypted_of_plain",
    "ingest_encrypted_vs_plain_cpu", "rebuild_encrypted_vs_plain_cpu",
}


@pytest.mark.slow
def test_a_small_benchmark_run_prints_the_verify_chain_and_encryption_figures(tmp_path):
    printed = subprocess.run(
        [sys.executable, str(BENCH), "--clients", "200", "--naive-clients", "50", "--json",
         "--keep", str(tmp_path)], check=True, capture_output=True, text=True).stdout
    result = json.loads(printed)
    assert INTEGRITY_KEYS <= set(result)
    assert result["verify_events_per_s"] > 0 and result["ingest_ratio_encrypted"] > 0
    # A share of the unchained import's rate; below 1 as long as the chained import stored
    # anything. Its lower side is the noise of two timings of 200 clients, so it is not bounded.
    assert result["chain_import_cost"] < 1
    assert result["ingest_encrypted_vs_plain_cpu"] > 0 < result["rebuild_encrypted_vs_plain_cpu"]
    assert result["ingest_encrypted_of_plain"] == pytest.approx(
        result["ingest_ratio_encrypted"] / result["ingest_ratio_plain_twin"], rel=0.1)
