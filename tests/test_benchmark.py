"""The benchmark script: its ceilings by hand, and one small run printing every key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.bench import ceilings
from tests.conftest import POSTGRES_URL

BENCH = Path(__file__).resolve().parent / "benchmarks" / "bench.py"

ISSUE_KEYS = {
    "events", "ingest_events_per_s", "raw_sqlite_insert_per_s", "ingest_ratio",
    "rebuild_events_per_s", "raw_sqlite_read_per_s", "rebuild_ratio",
    "naive_ingest_events_per_s", "naive_rebuild_events_per_s", "explain_ms_p50",
    "payment_run_s", "peak_rss_mb", "compare_s", "forecast_s",
}


def test_the_ceilings_grant_the_rebuild_a_plain_read_free_writes_and_every_processor():
    # 5 µs to read an event plainly, 70 µs to read it through the library, 30 µs to derive:
    # at best 2 / 35 µs = 57,143 events/s, 0.286 of the plain read's 200,000/s and 5.7 times
    # the naive 1 / 100 µs = 10,000/s.
    found = ceilings(2, raw_read_s=5e-6, naive_read_s=70e-6, derive_s=30e-6)
    assert found == {"rebuild_ratio_ceiling": 0.286, "rebuild_vs_naive_ceiling": 5.7}


def test_with_nothing_to_derive_only_the_processors_and_the_reads_bound_the_rebuild():
    found = ceilings(4, raw_read_s=5e-6, naive_read_s=50e-6, derive_s=0.0)
    assert found == {"rebuild_ratio_ceiling": 4.0, "rebuild_vs_naive_ceiling": 40.0}


@pytest.mark.slow
def test_a_small_run_prints_every_key_the_issue_names_and_the_ceilings(tmp_path):
    printed = subprocess.run(
        [sys.executable, str(BENCH), "--clients", "300", "--naive-clients", "100", "--json",
         "--keep", str(tmp_path)],
        check=True, capture_output=True, text=True).stdout
    result = json.loads(printed)
    assert ISSUE_KEYS | {"rebuild_ratio_ceiling", "rebuild_vs_naive_ceiling",
                         "derive_us_per_event", "naive_read_us_per_event"} <= set(result)
    assert result["clients"] == 300 and result["naive_sample_clients"] == 100
    assert result["events"] > 300  # every client is registered, and most have more records
    assert result["payment_run_lines"] > 0
    assert result["page_client_ms_p50"] > 0 and result["page_run_ms_p50"] > 0


PG_KEYS = {"pg_ingest_events_per_s", "pg_raw_copy_per_s", "pg_ingest_ratio",
           "pg_rebuild_events_per_s", "pg_raw_read_per_s", "pg_rebuild_ratio",
           "pg_rebuild_ratio_ceiling", "pg_rebuild_of_ceiling", "pg_payment_run_s"}


@pytest.mark.slow
@pytest.mark.skipif(not POSTGRES_URL, reason="PBR_TEST_POSTGRES_URL is not set")
def test_with_postgres_the_same_run_prints_its_figures_beside_that_servers_own_best(tmp_path):
    printed = subprocess.run(
        [sys.executable, str(BENCH), "--clients", "200", "--naive-clients", "50", "--json",
         "--keep", str(tmp_path), "--postgres", POSTGRES_URL],
        check=True, capture_output=True, text=True).stdout
    result = json.loads(printed)
    assert PG_KEYS <= set(result)
    assert result["pg_payment_run_lines"] == result["payment_run_lines"]
    assert 0 < result["pg_ingest_ratio"] and 0 < result["pg_rebuild_ratio"]
