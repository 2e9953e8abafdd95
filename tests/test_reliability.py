"""The reliability scripts (tests/reliability/) run as the README shows them, printing their
figures: here with fewer tries than the README's figures, so that CI stays quick, and every
figure must show nothing lost, duplicated or broken. On PostgreSQL too when it is configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if POSTGRES_URL:
        env["PBR_TEST_POSTGRES_URL"] = POSTGRES_URL
    done = subprocess.run([sys.executable, "-m", f"tests.reliability.{name}", *args],
                          capture_output=True, text=True, env=env, timeout=1200, cwd=ROOT)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _backends() -> set[str]:
    return {"sqlite", "postgresql"} if POSTGRES_URL else {"sqlite"}


@pytest.mark.slow
def test_imports_killed_at_random_moments_lose_and_duplicate_nothing():
    rows = _script("crash", "--sqlite-kills", "3", "--postgres-kills", "1",
                   "--clients", "12000")["crash"]
    assert {row["backend"] for row in rows} == _backends()
    for row in rows:
        assert row["killed_mid_file"] == row["tries"] > 0
        assert (row["failures"], row["partial_batches"], row["records_lost"],
                row["duplicated"]) == (0, 0, 0, 0), row


@pytest.mark.slow
def test_concurrent_imports_stores_and_runs_finish_with_the_union_stored_once():
    rows = _script("concurrency", "--tries", "1", "--clients", "4000")["concurrency"]
    assert {(row["backend"], row["case"]) for row in rows} == {
        (backend, case) for backend in _backends() for case in ("imports", "stores", "runs")}
    for row in rows:
        assert (row["failures"], row["records_lost"], row["duplicated"]) == (0, 0, 0), row


@pytest.mark.slow
def test_the_fuzz_script_prints_its_figures():
    figures = _script("fuzz", "--lines", "400", "--rulesets", "20", "--seed", "3")
    assert figures["failures"] == [] and figures["tracebacks"] == 0
    assert figures["lines"] == 400 and figures["rulesets"] == 20
