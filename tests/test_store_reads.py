"""The ledger's own events (rulesets, runs, disputes, remittances) are read through a partial
index, never by scanning every record: the same events as the library's read, in order."""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ledger.importer import Importer
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
