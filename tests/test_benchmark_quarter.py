"""The benchmark's quarter close, its growth table and its worker measurement, on a tiny pilot."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.benchmarks import bench_quarter, growth
from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("quarter_close_import_s", "catch_up_s", "quarter_run_s", "replay_s", "statement_s",
         "verify_s")


@pytest.fixture(scope="module")
def pilot(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pilot") / "pilot.jsonl"
    subprocess.run([sys.executable, "-m", "cli.main", "simulate", "--clients", "60", "--seed",
                    "2012", "--out", str(path)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return path


def test_a_quarter_is_its_first_and_last_day():
    assert bench_quarter.quarter_of(date(2015, 2, 14)) == (date(2015, 1, 1), date(2015, 3, 31))
    assert bench_quarter.quarter_of(date(2014, 12, 31)) == (date(2014, 10, 1),
                                                            date(2014, 12, 31))


def test_the_pilot_splits_at_the_quarter_into_what_came_before_and_what_came_in_it(
        pilot, tmp_path):
    first, last = bench_quarter.choose_quarter(pilot)
    before, new, counts = bench_quarter.split(pilot, first, last, tmp_path)
    received = [json.loads(line)["received_on"] for line in new.open()]
    assert received and all(first.isoformat() <= day <= last.isoformat() for day in received)
    assert all(json.loads(line)["received_on"] < first.isoformat() for line in before.open())
    assert counts["new"] == len(received) >= counts["file"] / 24
    assert 0 < counts["changed"] <= counts["clients"] <= 60


def test_the_quarter_close_times_each_step_and_the_share_of_clients_derived_again(
        pilot, tmp_path):
    result = bench_quarter.measure(pilot, tmp_path)
    assert all(result[step] >= 0 for step in STEPS)
    assert result["quarter_close_s"] == pytest.approx(sum(result[s] for s in STEPS), abs=0.05)
    assert 0 < result["catch_up_clients_share"] <= 1
    assert result["quarter_close_accepted"] == result["quarter_close_records"]
    assert result["quarter_run_lines"] > 0 and result["quarter_statement_kb"] > 0


@pytest.mark.skipif(not POSTGRES_URL, reason="PBR_TEST_POSTGRES_URL is not set")
def test_on_postgres_the_quarter_close_prints_the_same_steps_with_pg_keys(pilot, tmp_path):
    from tests.benchmarks import bench_scale

    result = bench_quarter.measure(pilot, tmp_path, POSTGRES_URL)
    assert all(result[f"pg_{step}"] >= 0 for step in STEPS)
    assert result["pg_quarter_run_lines"] == result["quarter_run_lines"]
    _, last = bench_quarter.choose_quarter(pilot)
    workers = bench_scale.measure(POSTGRES_URL, last)  # the ledger the close left
    assert workers["pg_rebuild_1_worker_s"] > 0 and workers["pg_rebuild_2_workers_s"] > 0


def test_growth_is_the_cost_per_event_at_b_over_a():
    a = {"clients": 100, "events": 1000, "ingest_events_per_s": 20000, "payment_run_s": 1.0,
         "explain_ms_p50": 2.0, "derive_us_per_event": 20.0, "ingest_ratio": 0.3}
    b = {"clients": 1000, "events": 10000, "ingest_events_per_s": 16000, "payment_run_s": 12.5,
         "explain_ms_p50": 3.0, "derive_us_per_event": 25.0, "ingest_ratio": 0.2}
    # A rate falls from 20,000 to 16,000 events/s: each event costs 1.25 times as much. A run
    # 12.5 times as long over 10 times the events: 1.25 times per event. A client's
    # explanation is fixed work: 3.0 / 2.0. A ratio is not a cost.
    assert growth.growth("ingest_events_per_s", a, b) == pytest.approx(1.25)
    assert growth.growth("payment_run_s", a, b) == pytest.approx(1.25)
    assert growth.growth("explain_ms_p50", a, b) == pytest.approx(1.5)
    assert growth.growth("derive_us_per_event", a, b) == pytest.approx(1.25)
    assert growth.growth("ingest_ratio", a, b) is None


def test_the_growth_script_prints_one_row_per_key_of_either_run(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"clients": 100, "events": 1000,
                                                 "payment_run_s": 1.0}))
    (tmp_path / "b.json").write_text(json.dumps({"clients": 1000, "events": 10000,
                                                 "payment_run_s": 12.5, "quarter_close_s": 3.0}))
    printed = subprocess.run([sys.executable, str(ROOT / "tests/benchmarks/growth.py"),
                              str(tmp_path / "a.json"), str(tmp_path / "b.json")],
                             check=True, capture_output=True, text=True).stdout.splitlines()
    assert printed[0] == "| key | 100 clients | 1,000 clients | per-event cost, B ÷ A |"
    assert "| `payment_run_s` | 1.00 | 12.50 | 1.25 |" in printed
    assert "| `quarter_close_s` |  | 3.00 |  |" in printed
    assert len(printed) == 2 + 4
