"""Import against the store, on SQLite and PostgreSQL: every check, duplicates and conflicts."""

from __future__ import annotations

import codecs
import time

import pytest

from ledger.importer import Importer, JsonLinesFile, UnreadableInput
from ledger.store import Ledger
from tests.records_io import discharge, reg, start, write_csv, write_jsonl


def run_import(ledger: Ledger, tmp_path, records, name="records.jsonl"):
    return Importer(ledger).run([write_jsonl(tmp_path / name, records)])


def codes(report) -> list[tuple[int, str]]:
    return [(reject.line, reject.code) for reject in report.rejects]


def test_valid_records_are_appended_to_their_clients_stream(ledger, tmp_path):
    report = run_import(ledger, tmp_path, [reg(), start(), discharge()])
    assert (report.accepted, report.duplicates, report.rejected) == (3, 0, 0)
    events = ledger.client_events("C1")
    assert [event.type for event in events] == ["client_registered", "treatment_started",
                                                "discharged"]
    assert events[1].on.isoformat() == "2012-04-10"


def test_importing_the_same_file_again_counts_only_duplicates(ledger, tmp_path):
    run_import(ledger, tmp_path, [reg(), start()])
    report = run_import(ledger, tmp_path, [reg(), start()])
    assert (report.accepted, report.duplicates, report.rejected) == (0, 2, 0)
    assert len(ledger.client_events("C1")) == 2


def test_the_same_source_id_with_other_content_is_a_conflict(ledger, tmp_path):
    run_import(ledger, tmp_path, [reg(), start()])
    report = run_import(ledger, tmp_path, [start(provider="P2")])
    assert codes(report) == [(1, "conflict")]
    assert "source_id" in report.rejects[0].reason


def test_a_duplicate_inside_one_file_is_skipped(ledger, tmp_path):
    report = run_import(ledger, tmp_path, [reg(), start(), start()])
    assert (report.accepted, report.duplicates) == (2, 1)


INVALID_CASES = [
    ([reg(), "{not json"], [(2, "not_json")]),
    ([reg(), {**start(), "type": "arrest"}], [(2, "unknown_type")]),
    ([reg(), {**start(), "on": "2012-13-01"}], [(2, "invalid_field")]),
    ([reg(), {k: v for k, v in start().items() if k != "provider"}], [(2, "missing_field")]),
    ([start()], [(1, "unregistered_client")]),
    ([reg(), reg(source_id="reg-again")], [(2, "already_registered")]),
    ([reg(), start(received_on="2012-04-09")], [(2, "date_after_received")]),
    ([reg(date_of_birth="2012-05-01", received_on="2012-06-01"), start()],
     [(2, "date_before_birth")]),
    ([reg(), start(), discharge(journey="J9")], [(3, "unknown_journey")]),
    ([reg(), start(), start(journey="J2", on="2012-05-01")], [(3, "second_open_journey")]),
    ([reg(), start(), discharge(), discharge(source_id="end-again", on="2013-03-02")],
     [(4, "journey_closed")]),
    ([reg(), start(), discharge(on="2012-04-01")], [(3, "discharge_before_start")]),
    ([reg(), start(), discharge(), start(journey="J2", on="2013-02-01")],
     [(4, "journey_overlap")]),
    ([reg(), start(), start(source_id="again")], [(3, "journey_exists")]),
    ([reg(), {"type": "proven_offence", "source_id": "o1", "received_on": "2013-01-01",
              "client": "C1", "offence_on": "2012-06-01", "disposal": "fine",
              "disposal_on": "2012-05-01"}], [(2, "disposal_before_offence")]),
    ([reg(), {"type": "correction", "source_id": "x1", "received_on": "2013-01-01",
              "client": "C1", "retracts": "nothing", "reason": "typo"}],
     [(2, "unknown_source_id")]),
    ([reg(), {"type": "died", "source_id": "d1", "received_on": "2013-01-01", "client": "C1",
              "on": "2012-12-01"},
      {"type": "died", "source_id": "d2", "received_on": "2013-01-01", "client": "C1",
       "on": "2012-12-02"}], [(3, "already_died")]),
]


@pytest.mark.parametrize(("records", "expected"), INVALID_CASES)
def test_each_invalid_record_is_rejected_with_its_line_and_reason(ledger, tmp_path, records,
                                                                  expected):
    report = run_import(ledger, tmp_path, records)
    assert codes(report) == expected
    assert report.accepted == len(records) - len(expected)


def test_a_top_for_a_journey_the_client_does_not_have_is_rejected(ledger, tmp_path):
    top = {"type": "top_recorded", "source_id": "t1", "received_on": "2012-10-01",
           "client": "C1", "journey": "J7", "on": "2012-10-01", "stage": "review"}
    report = run_import(ledger, tmp_path, [reg(), start(), top])
    assert codes(report) == [(3, "unknown_journey")]
    assert report.rejects[0].reason.startswith("journey:")


def test_a_retracted_discharge_can_be_sent_again_corrected(ledger, tmp_path):
    fix = {"type": "correction", "source_id": "fix1", "received_on": "2013-03-05",
           "client": "C1", "retracts": "end-C1-J1", "reason": "wrong reason"}
    again = discharge(source_id="end-2", reason="completed_drug_free", received_on="2013-03-06")
    report = run_import(ledger, tmp_path, [reg(), start(), discharge(), fix, again])
    assert (report.accepted, report.rejected) == (5, 0)


def test_a_death_closes_the_open_journey_so_a_new_one_may_not_start_before_it(ledger,
                                                                             tmp_path):
    died = {"type": "died", "source_id": "d1", "received_on": "2012-12-01", "client": "C1",
            "on": "2012-12-01"}
    report = run_import(ledger, tmp_path, [reg(), start(), died, discharge()])
    assert codes(report) == [(4, "journey_closed")]


def test_valid_records_are_kept_when_others_in_the_file_are_rejected(ledger, tmp_path):
    report = run_import(ledger, tmp_path, [reg(), "nonsense", start(), start(client="C9")])
    assert report.accepted == 2
    assert [r.line for r in report.rejects] == [2, 4]


def test_csv_and_json_lines_of_the_same_record_are_duplicates(ledger, tmp_path):
    write_csv(tmp_path / "a.csv", [reg(), start(lasars_band=2)])
    first = Importer(ledger).run([tmp_path / "a.csv"])
    second = run_import(ledger, tmp_path, [reg(), start(lasars_band=2)])
    assert (first.accepted, second.duplicates) == (2, 2)


def test_records_are_appended_in_batches_across_many_clients(ledger, tmp_path):
    records = [reg(f"C{n}") for n in range(120)] + [start(f"C{n}") for n in range(120)]
    report = Importer(ledger, batch_size=50).run([write_jsonl(tmp_path / "r.jsonl", records)])
    assert report.accepted == 240
    assert ledger.max_position() == 240


def test_a_missing_file_is_unreadable_input(ledger, tmp_path):
    with pytest.raises(UnreadableInput):
        Importer(ledger).run([tmp_path / "absent.jsonl"])


def test_records_by_client_honours_the_knowledge_date(ledger, tmp_path):
    from datetime import date
    run_import(ledger, tmp_path, [reg(), start(), discharge()])
    by_client, position = ledger.records_by_client(known_on=date(2012, 12, 31))
    assert [e.type for e in by_client["C1"]] == ["client_registered", "treatment_started"]
    assert position == 2


@pytest.mark.parametrize(("records", "expected"), INVALID_CASES)
def test_each_rejection_reaches_the_command_line_json_with_exit_one(db_url, tmp_path, records,
                                                                    expected):
    from tests.cli_runner import pbr
    result = pbr("import", write_jsonl(tmp_path / "r.jsonl", records), "--db", db_url, "--json")
    assert result.exit_code == 1
    document = result.json()
    assert [(r["line"], r["code"]) for r in document["rejects"]] == expected
    assert all(r["reason"] and r["reason"].split(":")[0] for r in document["rejects"])
    assert document["accepted"] == len(records) - len(expected)


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1 << 24])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_json_lines_are_numbered_as_written_whatever_the_reading_chunk(tmp_path, monkeypatch,
                                                                       chunk, newline):
    monkeypatch.setattr(JsonLinesFile, "CHUNK", chunk)
    lines = ['{"a": "é"}', "", "   ", '{"b": 2}', "not json", '{"c": "€ and more text"}']
    path = tmp_path / "r.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + newline.join(lines).encode())  # no newline at the end
    found = JsonLinesFile(path)
    assert list(found.numbers) == [1, 4, 5, 6]
    assert found.texts(0, len(found)) == [lines[0], lines[3], lines[4], lines[5]]
    assert found.texts(1, 3) == [lines[3], lines[4]]


def test_a_file_that_is_not_utf8_is_unreadable_input(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": "\xff"}\n')
    with pytest.raises(UnreadableInput, match="not UTF-8"):
        JsonLinesFile(path)


def test_a_duplicate_of_a_record_not_yet_committed_is_counted_after_a_batch_of_rejects(
        ledger, tmp_path, monkeypatch):
    # batches of two: [registration, start] [junk, junk] [the same start again]; each commit
    # is held back a moment after its rows are written, so the third batch is checked while
    # the first may still be uncommitted
    records = [reg("C1"), start("C1"), "not json", "nor this", start("C1")]
    append_batch = ledger.append_batch

    def slow_commit(events, index_rows, written=None):
        def then_wait():
            if written is not None:
                written()
            time.sleep(0.3)
        append_batch(events, index_rows, written=then_wait)

    monkeypatch.setattr(ledger, "append_batch", slow_commit)
    report = Importer(ledger, batch_size=2).run([write_jsonl(tmp_path / "r.jsonl", records)])
    assert (report.accepted, report.duplicates, report.rejected) == (2, 1, 2)
    assert ledger.max_position() == 2
