"""3.1 offending_initial and 3.2 offending_final, individual measure (RULES.md §2, §4, §8 ex. 4)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.durations import Duration
from ledger.rulesets import example_ruleset_text, parse_ruleset
from projections.history import build_history
from projections.model import Status
from projections.offending import (
    counting_offences,
    offending_clock,
    offending_final,
    offending_initial,
)
from tests.factories import record

RULESET = parse_ruleset(example_ruleset_text())
INITIAL = RULESET.outcomes.offending_initial
FINAL = RULESET.outcomes.offending_final
START = "2012-05-01"


def history(*extra, start=START, discharged=None, as_of="2016-01-01"):
    events = [record("client_registered", source_id="reg"),
              record("treatment_started", journey="J1", on=start, source_id="start")]
    if discharged:
        events.append(record("discharged", journey="J1", on=discharged, reason="dropped_out",
                             source_id="dis"))
    events.extend(extra)
    day = date.fromisoformat(as_of)
    return build_history(events, day, day), day


def offence(offence_on, disposal_on, disposal="caution", source_id=None, trigger=False):
    return record("proven_offence", offence_on=offence_on, disposal_on=disposal_on,
                  disposal=disposal, trigger_offence=trigger,
                  source_id=source_id or f"o-{offence_on}-{disposal_on}")


def release(on, source_id=None):
    return record("released_from_custody", on=on, source_id=source_id or f"r-{on}")


def final(h, params=FINAL):
    found_history, as_of = h
    return offending_final(found_history, found_history.journeys[0], params, as_of)


def initial(h, params=INITIAL):
    found_history, as_of = h
    return offending_initial(found_history, found_history.journeys[0], params, as_of)


def clock(h, params=FINAL):
    found_history, as_of = h
    return offending_clock(found_history, found_history.journeys[0], params, as_of)


def test_example_4_initial_fails_and_final_resets_to_the_release_date():
    h = history(offence("2012-08-10", "2012-09-20", "custody"), release("2013-01-15"),
                as_of="2014-02-01")
    assert initial(h).status is Status.FAILED
    assert initial(h).reason == "offence_in_window"
    found = final(h)
    assert (found.status, found.evidence_on) == (Status.ACHIEVED, date(2014, 1, 15))
    assert FINAL.lag.after(found.evidence_on) == date(2014, 11, 15)
    assert clock(h).current_start == date(2013, 1, 15)
    assert [s.cause for s in clock(h).starts] == ["journey_start", "reset"]


def test_an_offence_dated_exactly_six_months_after_the_start_is_outside_the_window():
    h = history(offence("2012-11-01", "2012-11-20"), as_of="2013-01-01")
    assert initial(h).status is Status.ACHIEVED
    assert initial(h).evidence_on == date(2012, 11, 1)


def test_an_offence_dated_the_day_before_the_window_end_is_inside_it():
    h = history(offence("2012-10-31", "2012-11-20"), as_of="2013-01-01")
    found = initial(h)
    assert (found.status, found.evidence_on) == (Status.FAILED, date(2012, 11, 20))
    assert "2012-05-01 to 2012-10-31" in found.explanation


def test_initial_is_pending_while_its_window_runs():
    assert initial(history(as_of="2012-10-31")).reason == "window_running"


def test_penalty_notices_and_cannabis_warnings_never_count():
    h = history(offence("2012-06-01", "2012-06-10", "penalty_notice"),
                offence("2012-07-01", "2012-07-10", "cannabis_warning"), as_of="2013-06-01")
    assert counting_offences(h[0], INITIAL) == []
    assert initial(h).status is Status.ACHIEVED


def test_with_trigger_offences_only_an_unflagged_offence_does_not_count():
    params = INITIAL.model_copy(update={"trigger_offences_only": True})
    assert initial(history(offence("2012-06-01", "2012-06-10"), as_of="2013-01-01"),
                   params).status is Status.ACHIEVED
    flagged = history(offence("2012-06-01", "2012-06-10", trigger=True), as_of="2013-01-01")
    assert initial(flagged, params).status is Status.FAILED


def test_final_is_pending_in_custody_until_the_release_arrives():
    custody = offence("2012-08-10", "2012-09-20", "custody")
    waiting = final(history(custody, as_of="2013-01-14"))
    assert (waiting.status, waiting.reason) == (Status.PENDING, "in_custody")
    resumed = clock(history(custody, release("2013-01-15"), as_of="2013-02-01"))
    assert (resumed.reason, resumed.current_start) == ("window_running", date(2013, 1, 15))


def test_a_release_before_the_disposal_does_not_restart_the_clock():
    h = history(release("2012-09-01"), offence("2012-08-10", "2012-09-20", "custody"),
                as_of="2013-01-14")
    assert final(h).reason == "in_custody"


def test_an_offence_committed_on_bail_pushes_the_start_to_its_disposal():
    h = history(offence("2012-08-10", "2012-09-20"), offence("2012-09-01", "2012-12-01"),
                as_of="2014-06-01")
    found = clock(h)
    assert [s.cause for s in found.starts] == ["journey_start", "reset", "push"]
    assert found.current_start == date(2012, 12, 1)
    assert final(h).evidence_on == date(2013, 12, 1)


def test_an_offence_before_the_new_start_with_an_earlier_restart_does_not_push():
    h = history(offence("2012-08-10", "2012-12-01"), offence("2012-09-01", "2012-10-01"),
                as_of="2014-06-01")
    assert clock(h).current_start == date(2012, 12, 1)
    assert len(clock(h).starts) == 2


def test_a_reset_beyond_the_reset_limit_after_discharge_fails():
    h = history(offence("2013-02-01", "2013-03-02"), discharged="2012-06-01",
                as_of="2014-01-01")
    # limit = 2012-06-01 + 12m = 2013-06-01; restart 2013-03-02 is within it
    assert final(h).status is Status.PENDING
    late = history(offence("2013-04-01", "2013-06-02"), discharged="2012-06-01",
                   as_of="2014-01-01")
    found = final(late)
    assert (found.status, found.reason, found.evidence_on) == (
        Status.FAILED, "reset_beyond_limit", date(2013, 6, 2))


def test_a_reset_exactly_at_the_reset_limit_is_allowed():
    h = history(offence("2013-04-01", "2013-06-01"), discharged="2012-06-01", as_of="2014-07-01")
    assert (final(h).status, final(h).evidence_on) == (Status.ACHIEVED, date(2014, 6, 1))


def test_while_the_journey_is_open_every_reset_is_allowed():
    h = history(offence("2013-04-01", "2014-06-02"), as_of="2014-07-01")
    assert final(h).reason == "window_running"
    assert (clock(h).limit_on, clock(h).current_start) == (None, date(2014, 6, 2))


def test_an_offence_before_the_journey_start_disposed_during_it_does_not_count():
    h = history(offence("2012-04-20", "2012-06-01"), as_of="2013-06-01")
    assert initial(h).status is Status.ACHIEVED
    assert len(clock(h).starts) == 1


def test_an_offence_disposed_after_the_as_of_date_is_not_yet_proven():
    events = offence("2012-06-01", "2012-12-01")
    assert initial(history(events, as_of="2012-11-30")).status is Status.ACHIEVED
    assert initial(history(events, as_of="2012-12-01")).status is Status.FAILED


def test_initial_with_clock_reset_restarts_within_its_own_reset_limit():
    params = INITIAL.model_copy(update={"clock_reset": True, "reset_limit": Duration(1, "m")})
    h = history(offence("2012-06-01", "2012-07-01"), as_of="2013-02-01")
    assert (initial(h, params).status, initial(h, params).evidence_on) == (
        Status.ACHIEVED, date(2013, 1, 1))
    gone = history(offence("2012-06-01", "2012-07-02"), discharged="2012-06-01",
                   as_of="2013-02-01")
    assert initial(gone, params).reason == "reset_beyond_limit"


QUARTERS = (Duration(3, "m"), Duration(6, "m"), Duration(9, "m"), Duration(12, "m"))


def test_instalments_are_counted_on_the_current_clock():
    params = FINAL.model_copy(update={"instalments": QUARTERS})
    h = history(offence("2012-06-01", "2012-07-01"), as_of="2013-02-01")
    found = final(h, params)
    assert [i.status for i in found.instalments] == [Status.ACHIEVED, Status.ACHIEVED,
                                                     Status.PENDING, Status.PENDING]
    assert [i.evidence_on for i in found.instalments[:2]] == [date(2012, 10, 1),
                                                              date(2013, 1, 1)]


def test_an_instalment_earned_on_an_earlier_clock_stays_earned():
    params = FINAL.model_copy(update={"instalments": QUARTERS})
    h = history(offence("2012-09-10", "2012-10-01"), as_of="2013-02-01")
    found = final(h, params)
    assert found.instalments[0].status is Status.ACHIEVED
    assert found.instalments[0].evidence_on == date(2012, 8, 1)
    assert found.instalments[1].status is Status.PENDING


def test_a_push_does_not_undo_an_instalment_the_pushed_clock_already_reached():
    params = FINAL.model_copy(update={"instalments": QUARTERS})
    h = history(offence("2012-06-01", "2012-07-01"), offence("2012-06-20", "2012-11-01"),
                as_of="2013-01-01")
    found = final(h, params)
    assert found.instalments[0].evidence_on == date(2012, 10, 1)


@pytest.mark.parametrize("as_of", ["2014-01-01", "2015-06-30"])  # and long after the restart
def test_unearned_instalments_fail_with_a_reset_beyond_the_limit(as_of):
    params = FINAL.model_copy(update={"instalments": QUARTERS})
    late = history(offence("2013-04-01", "2013-06-02"), discharged="2012-06-01", as_of=as_of)
    found = final(late, params)
    assert [i.status for i in found.instalments] == [Status.ACHIEVED] * 3 + [Status.FAILED]


def test_a_clock_failed_beyond_the_reset_limit_earns_no_instalment_on_its_late_start():
    params = FINAL.model_copy(update={"instalments": QUARTERS})
    # The offence is in the first quarter, so the first clock earns nothing; its restart on
    # 2013-06-02 is a day beyond the limit (discharge 2012-06-01 + 12m) and fails the outcome.
    late = history(offence("2012-06-15", "2013-06-02"), discharged="2012-06-01",
                   as_of="2015-06-30")
    found = final(late, params)
    assert found.status is Status.FAILED and found.reason == "reset_beyond_limit"
    assert [i.status for i in found.instalments] == [Status.FAILED] * 4


OFFENCE = st.tuples(st.integers(0, 900), st.integers(0, 200), st.sampled_from(
    ["caution", "custody", "fine", "penalty_notice"]), st.integers(0, 300))


@settings(max_examples=200, deadline=None)
@given(st.lists(OFFENCE, max_size=6, unique_by=lambda o: o[0]), st.randoms())
def test_the_clock_does_not_depend_on_the_order_of_offences(specs, rng):
    start = date(2012, 5, 1)
    events = []
    for n, (offset, delay, disposal, stay) in enumerate(specs):
        offence_on = date.fromordinal(start.toordinal() + offset - 30)
        disposal_on = date.fromordinal(offence_on.toordinal() + delay)
        events.append(offence(offence_on.isoformat(), disposal_on.isoformat(), disposal,
                              source_id=f"o{n}"))
        if disposal == "custody" and stay < 250:
            events.append(release(date.fromordinal(disposal_on.toordinal() + stay).isoformat(),
                                  source_id=f"r{n}"))
    shuffled = list(events)
    rng.shuffle(shuffled)
    first = clock(history(*events, discharged="2013-01-01", as_of="2015-06-01"))
    second = clock(history(*shuffled, discharged="2013-01-01", as_of="2015-06-01"))
    assert first == second


def test_an_offence_disposed_the_day_it_was_committed_resets_the_clock_once():
    h = history(offence("2012-06-01", "2012-06-01"), as_of="2013-07-01")
    assert (final(h).status, final(h).evidence_on) == (Status.ACHIEVED, date(2013, 6, 1))


def test_an_offence_on_bail_in_custody_keeps_the_clock_pending():
    h = history(offence("2012-08-10", "2012-09-20"),
                offence("2012-09-01", "2012-12-01", "custody"), as_of="2013-03-01")
    assert final(h).reason == "in_custody"
    assert [s.cause for s in clock(h).starts] == ["journey_start", "reset", "push"]
    assert clock(h).starts[-1].on is None


def test_a_cohort_measured_outcome_has_no_individual_finding():
    params = FINAL.model_copy(update={"measure": "cohort"})
    assert final(history(), params).reason == "cohort_measure"


def test_a_clock_is_worked_out_once_per_history_journey_ruleset_and_date():
    h = history(offence("2012-08-10", "2012-09-20", "custody"), release("2013-01-15"),
                as_of="2014-02-01")
    found_history, as_of = h
    journey = found_history.journeys[0]
    assert clock(h) is clock(h)  # the outcome and the projection's clock row share it
    no_reset = FINAL.model_copy(update={"clock_reset": False})
    assert clock(h, no_reset) is not clock(h)
    assert clock(h, no_reset).status is Status.FAILED  # not the resetting clock's answer
    earlier = offending_clock(found_history, journey, FINAL, date(2013, 6, 1))
    assert earlier.status is Status.PENDING and clock(h).status is Status.ACHIEVED
    # Another history of the same client starts with nothing remembered.
    again, _ = history(offence("2012-08-10", "2012-09-20", "custody"), as_of="2014-02-01")
    assert again.clocks == {} and offending_clock(again, again.journeys[0], FINAL,
                                                  as_of).status is Status.PENDING
