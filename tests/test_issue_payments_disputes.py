"""Runs that only move forward, owned and dated disputes, adjustments paid once when the run's
knowledge reaches them, and an honest diff (RULES.md §5, §7), on both backends, through the
command line and through the ledger's services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger import disputes
from ledger.disputes import DisputeRefused, note_dispute, raise_dispute, resolve_dispute
from ledger.store import Ledger
from tests import hand_ledger
from tests.cli_runner import pbr
from tests.records_io import write_jsonl

TODAY = date(2016, 1, 1)


@pytest.fixture
def hand(db_url, tmp_path):
    """The hand-written ledger, paid as of 2012-06-30 (R0001) and 2013-06-30 (R0002)."""
    hand_ledger.build(db_url, tmp_path)
    for as_of in ("2012-06-30", "2013-06-30"):
        run(db_url, as_of)
    return db_url


def run(db: str, as_of: str, *extra: str) -> dict:
    result = pbr("payments", "run", "--as-of", as_of, "--db", db, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json()


def runs(db: str) -> list[str]:
    return [r["run"] for r in pbr("payments", "list", "--db", db, "--json").json()["runs"]]


def line_of(document: dict, client: str) -> int:
    """The 1-based number of the client's first line in a run."""
    return next(n for n, line in enumerate(document["lines"], start=1)
                if line["client"] == client)


def shown(db: str, run_id: str) -> dict:
    return pbr("payments", "show", run_id, "--db", db, "--json").json()


def adjustments(document: dict) -> list[tuple]:
    return [(line["dispute"], line["provider"], line["amount"]) for line in document["lines"]
            if line["kind"] == "adjustment"]


# 1. Runs only move forward in knowledge; a preview answers the rest and records nothing.

def test_a_run_known_on_a_date_before_the_last_runs_is_refused_and_recorded_nothing(hand):
    refused = pbr("payments", "run", "--as-of", "2015-06-30", "--known-on", "2013-01-01",
                  "--db", hand)
    assert refused.exit_code == 2
    assert "known_on_before_last_run" in refused.stderr and "2013-06-30" in refused.stderr
    assert runs(hand) == ["R0001", "R0002"]


def test_a_run_as_of_a_date_before_the_last_runs_is_refused(hand):
    refused = pbr("payments", "run", "--as-of", "2013-03-31", "--db", hand)
    assert refused.exit_code == 2 and "as_of_before_last_run" in refused.stderr


def test_a_preview_on_earlier_knowledge_prints_the_run_and_records_nothing(hand):
    preview = run(hand, "2015-06-30", "--known-on", "2013-01-01", "--preview")
    assert preview["preview"] is True and preview["run"] == "R0003"
    assert (preview["as_of"], preview["known_on"]) == ("2015-06-30", "2013-01-01")
    assert preview["lines"], "the preview should show what such a run would pay"
    assert runs(hand) == ["R0001", "R0002"]


def test_a_preview_is_exactly_the_run_then_recorded(hand):
    preview = run(hand, "2013-09-30", "--preview")
    recorded = run(hand, "2013-09-30")
    assert {**preview, "preview": False} == recorded
    text = pbr("payments", "run", "--as-of", "2013-12-31", "--preview", "--db", hand)
    assert text.exit_code == 0 and text.stdout.startswith("preview: nothing is recorded")


def test_a_preview_of_a_ledger_that_does_not_exist_creates_nothing(tmp_path):
    path = tmp_path / "missing.db"
    result = pbr("payments", "run", "--as-of", "2013-06-30", "--preview",
                 "--db", f"sqlite:///{path}")
    assert result.exit_code == 2 and not path.exists()


# 2. An upheld adjustment waits for a run whose knowledge reaches its resolution.

def test_an_adjustment_is_paid_in_the_first_run_whose_knowledge_reaches_the_resolution(hand):
    line = line_of(shown(hand, "R0002"), "C1")
    dispute = pbr("disputes", "raise", "--provider", "P1", "--run", "R0002", "--line", line,
                  "--reason", "band 2", "--on", "2013-07-02", "--db", hand, "--json").json()
    resolved = pbr("disputes", "resolve", dispute["dispute"], "--resolution", "upheld",
                   "--amount", "250.00", "--reason", "band 2 confirmed", "--on", "2013-08-15",
                   "--db", hand, "--json")
    assert resolved.exit_code == 0, resolved.stderr
    assert adjustments(run(hand, "2013-07-31")) == []  # knows only up to 2013-07-31
    assert adjustments(run(hand, "2013-09-30")) == [(dispute["dispute"], "P1", "250.00")]
    assert adjustments(run(hand, "2013-12-31")) == []  # never twice
    for run_id in runs(hand):
        assert pbr("payments", "replay", run_id, "--db", hand).exit_code == 0


# 3. Only a provider's own lines and journeys.

def test_a_provider_cannot_dispute_another_providers_line(hand):
    line = line_of(shown(hand, "R0002"), "C1")  # P1's client
    refused = pbr("disputes", "raise", "--provider", "P2", "--run", "R0002", "--line", line,
                  "--reason", "x", "--on", "2013-07-02", "--db", hand)
    assert refused.exit_code == 2 and "not_your_line" in refused.stderr
    assert pbr("disputes", "list", "--db", hand, "--json").json()["disputes"] == []


def test_a_provider_cannot_dispute_another_providers_journey(hand):
    with Ledger(hand) as ledger, pytest.raises(DisputeRefused) as refused:
        raise_dispute(ledger, "P2", date(2013, 7, 2), "x", today=TODAY, by="t", client="C1",
                      outcome="offending_initial")
    assert refused.value.code == disputes.NOT_YOUR_LINE


# 4. diff lists no adjustment already paid, refuses a today before the run's knowledge date.

def test_diff_lists_no_adjustment_a_later_run_paid_and_never_prints_none(hand, tmp_path):
    line = line_of(shown(hand, "R0002"), "C1")
    dispute = pbr("disputes", "raise", "--provider", "P1", "--run", "R0002", "--line", line,
                  "--reason", "x", "--on", "2013-07-02", "--db", hand, "--json").json()
    pbr("disputes", "resolve", dispute["dispute"], "--resolution", "upheld", "--amount",
        "-0.02", "--reason", "rounding", "--on", "2013-07-03", "--db", hand)
    (tmp_path / "late").mkdir()
    write_jsonl(tmp_path / "late" / "fix.jsonl", [hand_ledger.RETRACTION])
    assert pbr("import", tmp_path / "late" / "fix.jsonl", "--db", hand).exit_code == 0
    assert adjustments(run(hand, "2013-09-30")) == [(dispute["dispute"], "P1", "-0.02")]
    for run_id in ("R0001", "R0002"):
        result = pbr("payments", "diff", run_id, "--today", "2013-10-01", "--db", hand,
                     "--json")
        assert all(d["kind"] != "adjustment" for d in result.json()["differences"])
    text = pbr("payments", "diff", "R0001", "--today", "2013-10-01", "--db", hand)
    assert "C4 journey J1 housing: recorded 250.00, now no line" in text.stdout
    assert "None" not in text.stdout


def test_diff_refuses_a_today_before_the_runs_knowledge_date(hand):
    refused = pbr("payments", "diff", "R0002", "--today", "2012-01-01", "--db", hand)
    assert refused.exit_code == 2 and "today_before_knowledge" in refused.stderr


# 5. Dates, amounts, journeys and eligibility checked.

def _raise(ledger, **target):
    target = {"client": "C1", "outcome": "offending_initial", **target}
    on = target.pop("on", date(2013, 7, 2))
    provider = target.pop("provider", "P1")
    return raise_dispute(ledger, provider, on, "why", today=TODAY, by="finance", **target)


@pytest.mark.parametrize("target, code", [
    ({"run_id": "R0002", "line": 1, "client": None, "on": date(2013, 1, 1)},
     disputes.RAISED_BEFORE_RUN),
    ({"on": date(2011, 12, 31)}, disputes.RAISED_BEFORE_JOURNEY),
    ({"on": date(2030, 1, 1)}, disputes.DATED_AFTER_TODAY),
    ({"client": "C5", "journey": "J2"}, disputes.INELIGIBLE_OUTCOME),
    ({"client": "C5"}, disputes.JOURNEY_REQUIRED),
    ({"journey": "J9"}, disputes.UNKNOWN_JOURNEY),
    ({"client": "C99"}, disputes.UNKNOWN_CLIENT),
    ({"outcome": "nonsense"}, disputes.UNKNOWN_OUTCOME),
    ({"run_id": "R0009", "line": 1, "client": None}, disputes.UNKNOWN_RUN),
    ({"run_id": "R0002", "line": 99, "client": None}, disputes.UNKNOWN_LINE),
    ({"client": None, "outcome": None}, disputes.NO_TARGET),
])
def test_a_dispute_that_cannot_stand_is_refused_with_its_reason(hand, target, code):
    with Ledger(hand) as ledger:
        with pytest.raises(DisputeRefused) as refused:
            _raise(ledger, **target)
        assert refused.value.code == code
        assert disputes.read_disputes(ledger) == []


def test_a_dispute_raised_on_the_runs_date_and_on_the_journeys_start_stands(hand):
    with Ledger(hand) as ledger:
        on_run = _raise(ledger, run_id="R0002", line=1, client=None, on=date(2013, 6, 30))
        on_start = _raise(ledger, on=date(2012, 1, 10))
    assert on_run.dispute_id == "D0001" and on_start.journey == "J1"


def test_an_entitlement_dispute_of_a_single_journey_records_that_journey(hand):
    raised = pbr("disputes", "raise", "--provider", "P1", "--client", "C1", "--outcome",
                 "offending_initial", "--reason", "x", "--on", "2013-07-02", "--by", "alice",
                 "--db", hand, "--json")
    assert raised.exit_code == 0, raised.stderr
    assert (raised.json()["journey"], raised.json()["site"]) == ("J1", "S1")
    assert raised.json()["raised_by"] == "alice"


@pytest.mark.parametrize("resolution, amount, on, code", [
    ("upheld", Decimal("0.00"), date(2013, 8, 1), disputes.ZERO_ADJUSTMENT),
    ("upheld", Decimal("1.005"), date(2013, 8, 1), disputes.NOT_WHOLE_PENCE),
    ("upheld", None, date(2013, 8, 1), disputes.AMOUNT_REQUIRED),
    ("rejected", Decimal("1.00"), date(2013, 8, 1), disputes.AMOUNT_ON_REJECTED),
    ("granted", Decimal("1.00"), date(2013, 8, 1), disputes.UNKNOWN_RESOLUTION),
    ("upheld", Decimal("1.00"), date(2013, 7, 1), disputes.DATED_BEFORE_RAISING),
    ("upheld", Decimal("1.00"), date(2016, 1, 2), disputes.DATED_AFTER_TODAY),
])
def test_a_resolution_that_cannot_stand_is_refused(hand, resolution, amount, on, code):
    with Ledger(hand) as ledger:
        dispute = _raise(ledger)
        with pytest.raises(DisputeRefused) as refused:
            resolve_dispute(ledger, dispute.dispute_id, on, resolution, amount, "r",
                            today=TODAY, by="panel")
        assert refused.value.code == code
        assert disputes.read_dispute(ledger, dispute.dispute_id).resolution is None


def test_notes_are_dated_from_the_raising_to_today_and_name_who_wrote_them(hand):
    with Ledger(hand) as ledger:
        dispute = _raise(ledger)
        for on, code in ((date(2013, 7, 1), disputes.DATED_BEFORE_RAISING),
                         (date(2016, 1, 2), disputes.DATED_AFTER_TODAY)):
            with pytest.raises(DisputeRefused) as refused:
                note_dispute(ledger, dispute.dispute_id, on, "n", [], today=TODAY, by="bob")
            assert refused.value.code == code
        noted = note_dispute(ledger, dispute.dispute_id, date(2013, 7, 2), "n", ["E1"],
                             today=TODAY, by="bob")
        resolved = resolve_dispute(ledger, dispute.dispute_id, date(2013, 7, 2), "rejected",
                                   None, "r", today=TODAY, by="panel")
        with pytest.raises(DisputeRefused) as again:
            note_dispute(ledger, dispute.dispute_id, date(2013, 7, 3), "n", [], today=TODAY,
                         by="bob")
    assert noted.notes[0]["by"] == "bob" and resolved.resolved_by == "panel"
    assert again.value.code == disputes.ALREADY_RESOLVED


def test_a_dispute_dated_after_today_is_refused_on_the_command_line(hand):
    refused = pbr("disputes", "raise", "--provider", "P1", "--client", "C1", "--outcome",
                  "offending_initial", "--reason", "x", "--on", "2999-01-01", "--db", hand)
    assert refused.exit_code == 2 and "dated_after_today" in refused.stderr


def test_note_and_resolve_print_one_json_document(hand):
    dispute = pbr("disputes", "raise", "--provider", "P1", "--client", "C1", "--outcome",
                  "offending_initial", "--reason", "x", "--on", "2013-07-02", "--db", hand,
                  "--json").json()["dispute"]
    noted = pbr("disputes", "note", dispute, "--note", "n", "--evidence", "E1", "--on",
                "2013-07-03", "--by", "bob", "--db", hand, "--json")
    assert noted.json()["notes"][0] == {"on": "2013-07-03", "note": "n", "evidence": ["E1"],
                                        "by": "bob"}
    resolved = pbr("disputes", "resolve", dispute, "--resolution", "upheld", "--amount",
                   "10.00", "--reason", "r", "--on", "2013-07-04", "--by", "panel", "--db",
                   hand, "--json")
    assert (resolved.json()["status"], resolved.json()["amount"],
            resolved.json()["resolved_by"]) == ("upheld", "10.00", "panel")


def test_dispute_raise_options_have_help_text():
    text = pbr("disputes", "raise", "--help").stdout
    for words in ("The entitlement's journey", "The entitlement's outcome slug",
                  "The instalment number", "Who acts"):
        assert words in text
