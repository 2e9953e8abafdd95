"""The ledger's own events (rulesets, runs, disputes, remittances) are read through a partial
index, never by scanning every record: the same events as the library's read, in order."""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ledger.events import ClientHistory, TreatmentStarted
from ledger.importer import Importer
from ledger.records import event_fields, validate_record
from ledger.rulesets import example_ruleset_text
from ledger.store import RULESET_TOPIC, Ledger
from tests.records_io import reg, start, write_jsonl


def test_ledger_topics_read_the_same_events_as_the_library(ledger, tmp_path):
    ledger.publish_ruleset(example_ruleset_text())
    records = []
    for n in range(40):
        records += [reg(f"K{n}"), start(f"K{n}")]
    Importer(ledger).run([write_jsonl(tmp_path / "r.jsonl", records)])
    ledger.publish_ruleset(example_ruleset_text().replace('id = "example-2012"',
                                                          'id = "example-2012-b"'))
    indexed = [(at, event.text) for at, event in ledger.notifications(topics=[RULESET_TOPIC],
                                                                      batch=1)]
    plain = [(n.id, ledger.mapper.to_domain_event(n).text)
             for n in ledger.recorder.select_notifications(1, 1000, topics=[RULESET_TOPIC])]
    assert indexed == plain and len(indexed) == 2
    assert [r.id for r in ledger.rulesets()] == ["example-2012", "example-2012-b"]
    # a record topic is read the library's way, and still found
    assert len(list(ledger.notifications(topics=["ledger.events:TreatmentStarted"]))) == 40


def test_reading_rulesets_uses_the_partial_index(tmp_path):
    path = tmp_path / "pbr.db"
    Ledger(f"sqlite:///{path}").close()
    plan = sqlite3.connect(path).execute(
        "EXPLAIN QUERY PLAN SELECT id FROM ledger_events WHERE topic NOT LIKE 'ledger.events:%' "
        "AND id >= ? AND topic IN (?) ORDER BY id LIMIT 10", (1, RULESET_TOPIC)).fetchall()
    assert "pbr_ledger_events_ledger_topics" in str(plan)


def test_opening_a_ledger_again_issues_no_ddl(db_url):
    Ledger(db_url).close()
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        Ledger(db_url).close()
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert statements, "the listener saw nothing"
    assert not [s for s in statements if s.lstrip().upper().startswith(("CREATE", "ALTER"))]


def test_a_save_returns_the_notification_ids_its_events_were_stored_under(ledger, tmp_path):
    Importer(ledger).run([write_jsonl(tmp_path / "r.jsonl", [reg("K1"), start("K1")])])
    stream = ClientHistory(**event_fields(validate_record(reg("K2"))))
    stream.trigger_event(TreatmentStarted, **event_fields(validate_record(start("K2"))))
    recordings = ledger.save(stream)
    stored = {(n.originator_id, n.originator_version): n.id
              for n in ledger.recorder.select_notifications(1, 1000)}
    assert [r.notification.id for r in recordings] == [
        stored[(r.domain_event.originator_id, r.domain_event.originator_version)]
        for r in recordings]
    assert [r.notification.id for r in recordings] == [3, 4]  # after the two imported


def test_a_save_on_sqlite_never_claims_rows_another_writer_added_before_its_insert(tmp_path):
    """SQLite has no table lock: a write committed by another connection just before the
    save's insert takes the next id, and must not be reported as one of the save's own."""
    path = tmp_path / "pbr.db"
    ledger = Ledger(f"sqlite:///{path}")
    ledger.publish_ruleset(example_ruleset_text())
    other = ClientHistory(**event_fields(validate_record(reg("K9"))))
    foreign = ledger.mapper.to_stored_event(other.collect_events()[0])

    interleaved = []

    def interleave(conn, cursor, statement, parameters, context, executemany):
        if executemany and statement.startswith("INSERT INTO ledger_events") \
                and not interleaved:
            interleaved.append(statement)
            writer = sqlite3.connect(path)
            writer.execute("INSERT INTO ledger_events (originator_id, originator_version, "
                           "topic, state) VALUES (?, ?, ?, ?)",
                           (foreign.originator_id.bytes, foreign.originator_version,
                            foreign.topic, foreign.state))
            writer.commit()
            writer.close()

    event.listen(ledger.datastore.engine, "before_cursor_execute", interleave)
    stream = ClientHistory(**event_fields(validate_record(reg("K2"))))
    stream.trigger_event(TreatmentStarted, **event_fields(validate_record(start("K2"))))
    recordings = ledger.save(stream)
    assert interleaved
    assert [r.notification.id for r in recordings] == [3, 4]  # 1 the ruleset, 2 the other's
    ledger.close()
