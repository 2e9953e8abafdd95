"""The projection tables equal the pure derivation: after a rebuild, after incremental updates.

A simulated pilot is imported in two halves (each client's first records, then the rest, with the
corrections); the tables are rebuilt after the first half and caught up after the second, and
compared with what :func:`projections.engine.derive_all` gives from the log, on both backends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

import ledger.views as views
from ledger.importer import Importer
from ledger.rulesets import example_ruleset_text
from ledger.runs import find_run, replay_run, take_run
from ledger.simulation import write_pilot
from ledger.store import Ledger
from ledger.views import Projection
from projections.engine import derive_all
from projections.history import build_history
from projections.payments import entitlements
from projections.views import CLOCK_COLUMNS, client_clocks, clock_row
from tests.cli_runner import pbr
from tests.conftest import POSTGRES_URL, reset_postgres

AS_OF = date(2014, 9, 30)
CLIENTS = 120


@pytest.fixture(scope="module")
def pilot_halves(tmp_path_factory) -> tuple[Path, Path]:
    """A simulated pilot split per client: its first records, then the rest."""
    folder = tmp_path_factory.mktemp("pilot")
    whole = folder / "pilot.jsonl"
    write_pilot(CLIENTS, 11, whole)
    by_client: dict[str, list[str]] = defaultdict(list)
    for line in whole.read_text().splitlines():
        by_client[json.loads(line)["client"]].append(line)
    first, second = folder / "first.jsonl", folder / "second.jsonl"
    first.write_text("".join(line + "\n" for lines in by_client.values()
                             for line in lines[:len(lines) // 2 + 1]))
    second.write_text("".join(line + "\n" for lines in by_client.values()
                              for line in lines[len(lines) // 2 + 1:]))
    return first, second


def _import(ledger: Ledger, path: Path) -> None:
    report = Importer(ledger).run([path])
    assert report.rejected == 0, report.rejects[:3]


def _ledger(db_url: str, *paths: Path) -> Ledger:
    """A ledger with the example ruleset and the records of ``paths``."""
    ledger = Ledger(db_url)
    ledger.publish_ruleset(example_ruleset_text())
    for path in paths:
        _import(ledger, path)
    return ledger


def assert_tables_equal_derivation(ledger: Ledger, as_of: date) -> None:
    projection = Projection(ledger)
    assert projection.position() == ledger.max_position()
    rulesets = ledger.rulesets()
    by_client, _ = ledger.records_by_client(as_of)
    results, unruled = derive_all(by_client, rulesets, as_of, as_of)

    tabled, tabled_unruled = projection.outcomes()
    assert tabled == [replace(result, citations=()) for result in results]
    assert tabled_unruled == unruled

    clawback = {ruleset.id: ruleset.clawback for ruleset in rulesets}
    achieved = [e for e in entitlements(results, as_of, clawback) if e.status == "achieved"]
    assert sorted(projection.entitlements(as_of, clawback), key=str) == sorted(achieved, key=str)
    assert any(e.payable for e in achieved)

    clocks = sorted(clock_row(client, clock) for client, events in by_client.items()
                    if (history := build_history(events, as_of, as_of)) is not None
                    for clock in client_clocks(history, rulesets, as_of))
    with ledger.datastore.transaction(commit=False) as session:
        columns = [views.offending_clocks.c[name] for name in CLOCK_COLUMNS]
        stored = sorted(tuple(row) for row in session.execute(select(*columns)))
    assert stored == clocks and clocks


def test_tables_equal_the_derivation_after_rebuild_and_after_catching_up(
        db_url, pilot_halves, monkeypatch):
    _rebuild_update_rebuild(db_url, pilot_halves, monkeypatch)


def test_a_rebuild_in_worker_processes_gives_the_same_tables(db_url, pilot_halves,
                                                              monkeypatch):
    monkeypatch.setattr(views, "PARALLEL_FROM_EVENTS", 0)
    monkeypatch.setattr(views, "worker_count", lambda: 2)
    _rebuild_update_rebuild(db_url, pilot_halves, monkeypatch)


def _rebuild_update_rebuild(db_url: str, pilot_halves: tuple[Path, Path], monkeypatch) -> None:
    first, second = pilot_halves
    ledger = _ledger(db_url, first)
    Projection(ledger).rebuild(AS_OF)
    assert_tables_equal_derivation(ledger, AS_OF)

    _import(ledger, second)
    projection = Projection(ledger)
    assert projection.position() < ledger.max_position()
    monkeypatch.setattr(views, "PAGE", 400)  # several pages, one transaction each
    assert projection.catch_up() == ledger.max_position()
    assert_tables_equal_derivation(ledger, AS_OF)

    Projection(ledger).rebuild(AS_OF)
    assert_tables_equal_derivation(ledger, AS_OF)
    ledger.close()


def test_a_ruleset_published_since_means_every_client_again(db_url, pilot_halves):
    first, _ = pilot_halves
    ledger = _ledger(db_url, first)
    Projection(ledger).rebuild(AS_OF)
    changed = example_ruleset_text().replace('id = "example-2012"', 'id = "richer-2013"') \
        .replace('effective_from = "2012-04-01"', 'effective_from = "2013-01-01"') \
        .replace('amount = "500.00"', 'amount = "650.00"', 1)
    ledger.publish_ruleset(changed)
    Projection(ledger).catch_up()
    assert_tables_equal_derivation(ledger, AS_OF)
    assert Projection(ledger).status().rulesets == ["example-2012", "richer-2013"]
    ledger.close()


def test_a_failed_update_changes_neither_the_rows_nor_the_position(db_url, pilot_halves,
                                                                     monkeypatch):
    first, second = pilot_halves
    ledger = _ledger(db_url, first)
    projection = Projection(ledger)
    projection.rebuild(AS_OF)
    before = (projection.position(), projection.outcomes())
    _import(ledger, second)

    def broken(*_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(views, "_insert_rows", broken)
    with pytest.raises(RuntimeError):
        projection.catch_up()
    assert (projection.position(), projection.outcomes()) == before
    monkeypatch.undo()
    projection.catch_up()
    assert_tables_equal_derivation(ledger, AS_OF)
    ledger.close()


def test_a_failed_rebuild_leaves_the_tables_the_position_and_the_date_as_they_were(
        db_url, pilot_halves, monkeypatch):
    """The rebuild drops and makes its tables again: that too is undone when it fails (the
    SQLite driver would otherwise commit the DDL on its own, leaving empty tables that claim to
    be current)."""
    first, second = pilot_halves
    ledger = _ledger(db_url, first)
    projection = Projection(ledger)
    projection.rebuild(AS_OF)
    before = (projection.position(), projection.as_of(), projection.outcomes())
    assert before[2][0]
    _import(ledger, second)
    insert = views._insert_rows

    def fails_after_the_first_rows(connection, rows):
        insert(connection, rows)
        raise RuntimeError("disk full")

    monkeypatch.setattr(views, "_insert_rows", fails_after_the_first_rows)
    with pytest.raises(RuntimeError):
        projection.rebuild(date(2015, 3, 31))
    assert (projection.position(), projection.as_of(), projection.outcomes()) == before
    monkeypatch.undo()
    projection.catch_up()
    assert_tables_equal_derivation(ledger, AS_OF)
    ledger.close()


def test_runs_on_current_knowledge_read_the_tables_and_replay_identically(db_url, pilot_halves,
                                                                           monkeypatch):
    first, second = pilot_halves
    ledger = _ledger(db_url, first, second)
    early = date(2013, 9, 30)
    take_run(ledger, early, early)  # from the log: no projection yet
    Projection(ledger).rebuild(AS_OF)
    read = []
    original = views.Projection.entitlements

    def spy(self, *args):
        read.append(True)
        return original(self, *args)

    monkeypatch.setattr(views.Projection, "entitlements", spy)
    run = take_run(ledger, AS_OF, AS_OF)
    assert read, "the run as of the projection's date read the tables"
    recorded, recomputed = replay_run(ledger, find_run(ledger, run.run_id))
    assert recorded == recomputed and any(line.kind == "payment" for line in recorded)
    ledger.close()


def test_rebuild_and_status_from_the_command_line(db_url, pilot_halves):
    first, second = pilot_halves
    assert pbr("projections", "status", "--db", db_url).exit_code == 2  # nothing built yet
    rules = first.parent / "rules.toml"
    rules.write_text(example_ruleset_text())
    assert pbr("rules", "publish", rules, "--db", db_url).exit_code == 0
    assert pbr("import", first, "--db", db_url).exit_code == 0
    built = pbr("projections", "rebuild", "--as-of", AS_OF, "--db", db_url, "--json")
    assert built.exit_code == 0, built.stderr
    assert built.json()["behind"] == 0 and 0 < built.json()["clients"] <= CLIENTS
    assert pbr("import", second, "--db", db_url).exit_code == 0
    behind = pbr("projections", "status", "--db", db_url, "--json")
    assert behind.exit_code == 1 and behind.json()["behind"] > 0
    report = pbr("outcomes", "--as-of", AS_OF, "--db", db_url, "--json")
    assert pbr("projections", "status", "--db", db_url, "--json").json()["behind"] == 0
    ledger = Ledger(db_url)
    by_client, _ = ledger.records_by_client(AS_OF)
    results, _ = derive_all(by_client, ledger.rulesets(), AS_OF, AS_OF)
    ledger.close()
    assert len(report.json()["outcomes"]) == len(results)


def test_follow_needs_postgresql(tmp_path):
    url = f"sqlite:///{tmp_path / 'pbr.db'}"
    result = pbr("projections", "follow", "--db", url)
    assert result.exit_code == 2 and "PostgreSQL" in result.stderr


@pytest.mark.skipif(not POSTGRES_URL, reason="PBR_TEST_POSTGRES_URL is not set")
def test_follow_applies_records_as_they_arrive_on_postgresql(pilot_halves):
    db_url = reset_postgres()
    first, second = pilot_halves
    ledger = _ledger(db_url, first)
    Projection(ledger).rebuild(AS_OF)
    follower = subprocess.Popen([sys.executable, "-m", "cli.main", "projections", "follow",
                                 "--for", "60", "--db", db_url],
                                stderr=subprocess.PIPE, text=True)
    try:
        # The follower has caught up and is listening once it says where it follows from.
        assert "following from position" in follower.stderr.readline()
        _import(ledger, second)
        deadline = time.monotonic() + 30
        while Projection(ledger).position() < ledger.max_position():
            assert time.monotonic() < deadline, "follow did not catch up"
            time.sleep(0.2)
    finally:
        follower.terminate()
        _, errors = follower.communicate(timeout=30)
    assert "applied through position" in errors
    assert_tables_equal_derivation(ledger, AS_OF)
    ledger.close()
