"""RULES.md §2, journeys that overlap as known on K (decision 17): pure tests, no store."""

from __future__ import annotations

from datetime import date

from ledger.rulesets import example_ruleset_text, parse_ruleset
from projections.history import build_history
from projections.recovery import assign_cycles
from tests.factories import record

K = date(2015, 6, 30)
RULESET = parse_ruleset(example_ruleset_text())


def _history(*records, known_on=K):
    events = [record("client_registered", source_id="r")] + list(records)
    history = build_history(events, known_on, known_on)
    assert history is not None
    return history


def _start(journey, on):
    return record("treatment_started", journey=journey, on=on, source_id=f"t{journey}")


def _discharge(journey, on, received_on=None, reason="dropped_out"):
    return record("discharged", journey=journey, on=on, reason=reason, source_id=f"d{journey}",
                  received_on=date.fromisoformat(received_on or on))


def test_a_death_closes_every_journey_still_open_as_known():
    history = _history(_start("J1", "2014-01-01"), _discharge("J1", "2014-06-10", "2015-07-15"),
                       _start("J2", "2014-06-30"), record("died", on="2015-04-05"))
    assert [(j.journey, j.discharged_on, j.discharge_reason) for j in history.journeys] == [
        ("J1", date(2015, 4, 5), "died"), ("J2", date(2015, 4, 5), "died")]


def test_a_discharge_dated_after_the_journey_started_is_never_its_previous_one():
    history = _history(_start("J1", "2014-01-01"), _start("J2", "2014-06-30"),
                       record("died", on="2015-04-05"))
    assert history.previous_discharge(history.journeys[1]) is None


def test_the_previous_discharge_is_the_latest_on_or_before_the_start():
    history = _history(_start("J0", "2012-01-01"), _discharge("J0", "2012-06-01"),
                       _start("J1", "2013-08-01"), _start("J2", "2013-09-01"),
                       _start("J3", "2013-09-01"), _discharge("J2", "2013-09-01"))
    by_name = {j.journey: j for j in history.journeys}
    previous = {name: history.previous_discharge(j) for name, j in by_name.items()}
    assert previous["J0"] is None
    assert previous["J1"].journey == previous["J2"].journey == "J0"  # J1 is still open
    assert previous["J3"].journey == "J2"  # discharged on J3's start day: on or before it


def test_a_journey_with_no_previous_discharge_stays_in_the_cycle_before_it():
    history = _history(_start("J1", "2014-01-01"), _discharge("J1", "2014-06-10", "2015-07-15"),
                       _start("J2", "2015-06-20"))
    governing = {j.journey: RULESET for j in history.journeys}
    assert assign_cycles(history.journeys, governing) == {"J1": 1, "J2": 1}
    known = _history(_start("J1", "2014-01-01"), _discharge("J1", "2014-06-10", "2015-07-15"),
                     _start("J2", "2015-06-20"), known_on=date(2015, 7, 31))
    assert assign_cycles(known.journeys, governing) == {"J1": 1, "J2": 2}  # 2014-06-10 + 12m


def test_the_cycle_counts_the_window_from_the_previous_discharge_not_the_previous_journey():
    history = _history(_start("J0", "2012-01-01"), _discharge("J0", "2012-06-01"),
                       _start("J1", "2013-05-01"), _start("J2", "2013-07-01"))
    governing = {j.journey: RULESET for j in history.journeys}
    # J1 starts before 2012-06-01 + 12m; J2 after it, though J1 is still open as known on K.
    assert assign_cycles(history.journeys, governing) == {"J0": 1, "J1": 1, "J2": 2}
