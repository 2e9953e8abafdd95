"""Concurrent writers: an import that loses a race checks its batch again and stores the rest,
and the counts of both imports add up to the union of their files exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

import ledger.importer as importer
from ledger.importer import Importer
from ledger.rulesets import example_ruleset_text
from ledger.runs import RUN_TAKEN_CONCURRENTLY, RunRefused, preview_run, save_run
from ledger.store import Ledger
from tests.reliability.common import client_records, source_id_count


def _import(url: str, path: Path, batch_size: int = 100):
    ledger = Ledger(url)
    try:
        return Importer(ledger, batch_size=batch_size).run([path])
    finally:
        ledger.close()


def test_an_import_that_loses_a_race_checks_its_batches_again_and_stores_the_union_once(
        db_url, tmp_path, monkeypatch):
    mine = client_records(tmp_path / "mine.jsonl", range(0, 300))
    theirs = client_records(tmp_path / "theirs.jsonl", range(150, 450))
    original = importer.append_batch
    raced: list[object] = []

    def another_import_first(ledger, events, index_rows, written=None):
        if not raced and any(row[0] == "reg-K150" for row in index_rows):
            # the other import commits after this one checked its batch holding K150
            raced.append(None)
            raced[0] = _import(db_url, theirs)
        return original(ledger, events, index_rows, written=written)
    monkeypatch.setattr(importer, "append_batch", another_import_first)
    report = _import(db_url, mine)
    (other,) = raced
    assert report.retried >= 1
    assert report.rejected == other.rejected == 0
    assert report.accepted + other.accepted == 2 * 450  # the union, each record once
    assert report.duplicates + other.duplicates == 2 * 150  # the overlap, counted once
    ledger = Ledger(db_url, create=False)
    assert ledger.max_position() == 900 == source_id_count(db_url)
    assert all(len(ledger.client_events(f"K{n}")) == 2 for n in range(450))
    ledger.close()


def test_a_batch_that_keeps_losing_stops_the_import_with_one_line(db_url, tmp_path,
                                                                  monkeypatch):
    path = client_records(tmp_path / "r.jsonl", range(10))

    def always_lost(*_, **__):
        raise importer.BatchLost()
    monkeypatch.setattr(importer, "append_batch", always_lost)
    monkeypatch.setattr(importer.time, "sleep", lambda _: None)
    with pytest.raises(importer.ImportContention, match="20 tries"):
        _import(db_url, path)


def test_a_run_recorded_while_another_was_computed_is_refused(db_url, tmp_path):
    from datetime import date

    client_records(tmp_path / "r.jsonl", range(5))
    _import(db_url, tmp_path / "r.jsonl")
    ledger = Ledger(db_url)
    ledger.publish_ruleset(example_ruleset_text())
    mine = preview_run(ledger, date(2013, 6, 30), date(2013, 6, 30))
    theirs = preview_run(ledger, date(2013, 6, 30), date(2013, 6, 30))
    save_run(ledger, theirs)
    with pytest.raises(RunRefused) as refused:
        save_run(ledger, mine)
    assert refused.value.code == RUN_TAKEN_CONCURRENTLY
    ledger.close()


def test_a_record_committed_between_the_two_reads_of_a_batch_is_a_duplicate_not_a_rejection(
        db_url, tmp_path, monkeypatch):
    import threading

    mine = client_records(tmp_path / "mine.jsonl", range(100))
    theirs = client_records(tmp_path / "theirs.jsonl", range(100))
    original = Ledger.load_clients
    other: list = []

    def another_import_first(self, clients):
        if not other:  # after this import read the index, before it reads the streams
            other.append(None)
            worker = threading.Thread(target=lambda: other.append(_import(db_url, theirs)))
            worker.start()
            worker.join()
        return original(self, clients)
    monkeypatch.setattr(Ledger, "load_clients", another_import_first)
    report = _import(db_url, mine)
    assert report.rejected == other[1].rejected == 0
    assert (report.accepted, report.duplicates) == (0, 200)
    assert other[1].accepted == 200
