"""A small hand-written ledger for payments and disputes: two providers, two sites.

- C1 (S1, P1) and C2 (S2, P2): ``offending_initial`` achieved on 2012-07-10, payable
  2013-05-10, paid as of 2013-06-30.
- C4 (S1, P1): housing NFA resolved at a review on 2012-03-01 (paid as of 2012-06-30); the
  review is retracted on 2013-08-01, so housing is clawed back as of 2013-09-30.
- C5 (S1, P1): two journeys with ``offending_initial``; the second, in the same recovery cycle,
  is ineligible (already earned).
- C6 (S1, P1): died on 2012-06-01, before ``offending_initial``'s window ended.
"""

from __future__ import annotations

from pathlib import Path

from ledger.rulesets import example_ruleset_text
from ledger.store import Ledger
from tests.records_io import write_jsonl

RULESET = example_ruleset_text().replace('effective_from = "2012-04-01"',
                                         'effective_from = "2012-01-01"')


def _reg(client: str, site: str) -> dict:
    return {"type": "client_registered", "source_id": f"reg-{client}", "received_on": "2012-01-10",
            "client": client, "site": site, "date_of_birth": "1970-01-01"}


def _start(client: str, provider: str, journey: str = "J1", on: str = "2012-01-10",
           **extra) -> dict:
    return {"type": "treatment_started", "source_id": f"start-{client}-{journey}",
            "received_on": on, "client": client, "journey": journey, "provider": provider,
            "on": on, "substances": ["opiates"], "injecting": False, "housing": "none",
            "hepb_vaccination_needed": False, **extra}


RECORDS = [
    _reg("C1", "S1"), _start("C1", "P1"),
    _reg("C2", "S2"), _start("C2", "P2"),
    _reg("C4", "S1"), _start("C4", "P1", housing="nfa"),
    {"type": "top_recorded", "source_id": "top-C4-review", "received_on": "2012-03-05",
     "client": "C4", "journey": "J1", "on": "2012-03-01", "stage": "review",
     "acute_housing_problem": False, "at_risk_of_eviction": False},
    _reg("C5", "S1"), _start("C5", "P1"),
    {"type": "discharged", "source_id": "dis-C5-J1", "received_on": "2012-02-01",
     "client": "C5", "journey": "J1", "on": "2012-02-01", "reason": "dropped_out"},
    _start("C5", "P1", journey="J2", on="2012-03-01"),
    _reg("C6", "S1"), _start("C6", "P1"),
    {"type": "died", "source_id": "died-C6", "received_on": "2012-06-05", "client": "C6",
     "on": "2012-06-01"},
]
RETRACTION = {"type": "correction", "source_id": "fix-C4-review", "received_on": "2013-08-01",
              "client": "C4", "retracts": "top-C4-review",
              "reason": "the review was entered against the wrong client"}


def build(db_url: str, folder: Path, records: list[dict] | None = None) -> None:
    """Publish the ruleset and import the records (``RECORDS`` by default) into ``db_url``."""
    from ledger.importer import Importer

    ledger = Ledger(db_url)
    try:
        ledger.publish_ruleset(RULESET)
        path = write_jsonl(folder / "hand.jsonl", records if records is not None else RECORDS)
        report = Importer(ledger).run([path])
        assert report.rejected == 0, report.rejects
    finally:
        ledger.close()
