"""Shared fixtures: a fresh ledger on SQLite and, when PBR_TEST_POSTGRES_URL is set, PostgreSQL."""

from __future__ import annotations

import os
import signal

import pytest

from ledger.store import Ledger
from tests.reliability.common import fresh_database

POSTGRES_URL = os.environ.get("PBR_TEST_POSTGRES_URL")

BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not POSTGRES_URL, reason="PBR_TEST_POSTGRES_URL is not set")),
]


def reset_postgres() -> str:
    """Empty the test database's public schema; the URL to use."""
    assert POSTGRES_URL
    return fresh_database(POSTGRES_URL)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of an empty ledger database on each backend."""
    if request.param == "postgresql":
        return reset_postgres()
    return f"sqlite:///{tmp_path / 'pbr.db'}"


@pytest.fixture
def ledger(db_url: str):
    store = Ledger(db_url)
    yield store
    store.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say how many PostgreSQL-backed tests ran, so CI output shows they were not skipped."""
    counts = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        reports = terminalreporter.stats.get(outcome, [])
        counts[outcome] = sum(1 for r in reports if "[postgresql" in getattr(r, "nodeid", ""))
    if any(counts.values()):
        terminalreporter.write_line(
            "PostgreSQL-backed tests: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))


@pytest.fixture(autouse=True)
def _signal_handlers_restored():
    """Each test leaves SIGTERM and SIGINT as it found them: a command run in-process (pbr
    projections follow) installs handlers, and a process forked by a later test would inherit
    them."""
    before = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    yield
    for number, handler in before.items():
        signal.signal(number, handler)
