"""3.1 / 3.2 offending, cohort measure (RULES.md §4 "3.1 / 3.2 cohort measure")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledger.rulesets import parse_ruleset
from projections.cohort import cohort_outcomes, split
from projections.history import build_history
from projections.model import Status
from tests.factories import record

RULESET_TEXT = """
id = "cohort-2012"
effective_from = "2012-04-01"
sites = ["*"]

[outcomes.offending_final]
measure = "cohort"
metric = "{metric}"
baseline = "{baseline}"
cohort_start = "2012-04-01"
cohort_by = "{by}"
window = "12m"
lag = "10m"
steps = [["0.10", "10000.00"], ["0.20", "20000.00"], ["0.30", "30000.00"]]
"""
AFTER = date(2014, 5, 1)  # cohort end 2013-04-01 + 12m = 2014-04-01


def ruleset(metric="binary", baseline="0.5", by="site"):
    return parse_ruleset(RULESET_TEXT.format(metric=metric, baseline=baseline, by=by))


def client(name, offences=0, provider="P1", start="2012-06-01", born=date(1980, 1, 1),
           as_of=AFTER, offence_on="2012-08-01", disposal_on="2012-09-01"):
    events = [record("client_registered", client=name, date_of_birth=born, source_id=f"{name}r"),
              record("treatment_started", client=name, journey="J1", on=start,
                     provider=provider, source_id=f"{name}s")]
    for n in range(offences):
        events.append(record("proven_offence", client=name, offence_on=offence_on,
                             disposal_on=disposal_on, disposal="fine", source_id=f"{name}o{n}"))
    return build_history(events, as_of, as_of)


def cohort(offending_clients, clean_clients, provider="P1"):
    return ([client(f"{provider}x{n}", 1, provider) for n in range(offending_clients)]
            + [client(f"{provider}c{n}", 0, provider) for n in range(clean_clients)])


def test_binary_reduction_pays_the_highest_step_reached():
    rows = cohort_outcomes(cohort(3, 7), [ruleset()], AFTER)  # 0.3 vs 0.5: r = 0.4
    assert [(r.status, r.amount, r.provider) for r in rows] == [
        (Status.ACHIEVED, Decimal("30000.00"), "P1")]
    row = rows[0]
    assert (row.evidence_on, row.payable_on) == (date(2014, 4, 1), date(2015, 2, 1))
    assert (row.client, row.journey, row.cohort) == (None, None, "offending_final:S1:2012-04-01")
    assert "cohort of 10 journeys" in row.explanation


def test_frequency_uses_the_mean_number_of_offences():
    histories = [client("a", 3), client("b", 0), client("c", 0), client("d", 1)]  # mean 1.0
    rows = cohort_outcomes(histories, [ruleset("frequency", "1.2")], AFTER)  # r = 1/6
    assert rows[0].amount == Decimal("10000.00")


def test_below_the_first_step_nothing_is_paid():
    rows = cohort_outcomes(cohort(5, 5), [ruleset()], AFTER)  # r = 0
    assert (rows[0].status, rows[0].amount, rows[0].reason) == (
        Status.FAILED, None, "reduction_below_first_step")


def test_exactly_at_a_step_threshold_that_step_applies():
    rows = cohort_outcomes(cohort(4, 6), [ruleset()], AFTER)  # 0.4 vs 0.5: r = 0.2 exactly
    assert rows[0].amount == Decimal("20000.00")


def test_the_last_step_is_the_cap():
    rows = cohort_outcomes(cohort(0, 10), [ruleset()], AFTER)  # r = 1
    assert rows[0].amount == Decimal("30000.00")


def test_the_cohort_is_pending_until_the_evidence_date():
    rows = cohort_outcomes(cohort(0, 4), [ruleset()], date(2014, 3, 31))
    assert (rows[0].status, rows[0].amount, rows[0].reason) == (
        Status.PENDING, None, "cohort_window_running")


def test_journeys_outside_the_period_and_minors_are_not_in_the_cohort():
    histories = cohort(0, 2) + [client("late", 1, start="2013-04-01"),
                                client("kid", 1, born=date(1995, 1, 1))]
    rows = cohort_outcomes(histories, [ruleset()], AFTER)
    assert rows[0].amount == Decimal("30000.00")
    assert "cohort of 2 journeys" in rows[0].explanation


def test_by_site_the_payment_is_split_across_providers_by_cohort_size():
    histories = cohort(0, 2, "P1") + cohort(0, 1, "P2")
    rows = cohort_outcomes(histories, [ruleset()], AFTER)
    assert [(r.provider, r.amount) for r in rows] == [("P1", Decimal("20000.00")),
                                                      ("P2", Decimal("10000.00"))]
    assert {r.cohort for r in rows} == {"offending_final:S1:2012-04-01"}


def test_the_split_rounds_to_the_penny_with_the_remainder_to_the_largest():
    shares = split(Decimal("100.00"), {"P1": 1, "P2": 1, "P3": 1})
    assert shares == {"P1": Decimal("33.34"), "P2": Decimal("33.33"), "P3": Decimal("33.33")}
    assert sum(shares.values()) == Decimal("100.00")


def test_by_provider_each_provider_is_its_own_cohort():
    histories = cohort(0, 2, "P1") + cohort(2, 0, "P2")
    rows = cohort_outcomes(histories, [ruleset(by="provider")], AFTER)
    assert [(r.cohort, r.amount) for r in rows] == [
        ("offending_final:S1:P1:2012-04-01", Decimal("30000.00")),
        ("offending_final:S1:P2:2012-04-01", None)]


def test_a_member_who_died_inside_the_window_is_left_out():
    died = client("d", 0)
    events = [died.registration, died.journeys[0].start,
              record("died", client="d", on="2012-12-01", source_id="dd")]
    histories = cohort(1, 1) + [build_history(events, AFTER, AFTER)]
    rows = cohort_outcomes(histories, [ruleset()], AFTER)  # 0.5 vs 0.5 without the death
    assert rows[0].reason == "reduction_below_first_step"


def test_a_cohort_measured_outcome_lists_each_journey_as_ineligible_with_the_cohort_row():
    """CONTRACT.md: every journey appears once per outcome its ruleset switches on."""
    from ledger.rulesets import example_ruleset_text, parse_ruleset
    from projections.engine import derive_all
    from tests.factories import records as make_records

    text = example_ruleset_text().replace(
        '[outcomes.offending_final]       # 3.2\nmeasure = "individual"\ntariff = "1500.00"',
        '[outcomes.offending_final]       # 3.2\nmeasure = "cohort"\nmetric = "binary"\n'
        'baseline = "0.40"\ncohort_start = 2012-04-01\nsteps = [["0.10", "10000.00"]]')
    text = text.replace('reset_limit = "12m"\ninstalments = []\ntrigger_offences_only = false\n\n'
                        '[outcomes.injecting]', 'reset_limit = "12m"\n'
                        'trigger_offences_only = false\n\n[outcomes.injecting]')
    ruleset = parse_ruleset(text)
    events = make_records(("client_registered", {}),
                          ("treatment_started", {"journey": "J1", "on": "2012-05-01"}))
    results, _ = derive_all({"C1": events}, [ruleset], date(2015, 6, 30), date(2015, 6, 30))
    journey_rows = [r for r in results if r.outcome == "offending_final" and r.client == "C1"]
    assert [(r.status, r.reason) for r in journey_rows] == [("ineligible", "cohort_measure")]
    assert any(r.outcome == "offending_final" and r.cohort for r in results)


def _later(text: str, effective_from: str, cohort_start: str = "2012-04-01",
           measure: str = "cohort"):
    """The same terms in a ruleset published to take effect mid-period."""
    changed = (text.replace('id = "cohort-2012"', 'id = "cohort-2012-b"')
               .replace('effective_from = "2012-04-01"', f'effective_from = "{effective_from}"')
               .replace('cohort_start = "2012-04-01"', f'cohort_start = "{cohort_start}"'))
    if measure != "cohort":
        changed = changed.replace('measure = "cohort"', f'measure = "{measure}"')
    return parse_ruleset(changed)


def test_journeys_starting_under_a_later_ruleset_with_the_same_cohort_stay_in_the_cohort():
    text = RULESET_TEXT.format(metric="binary", baseline="0.5", by="site")
    first, later = parse_ruleset(text), _later(text, "2012-10-01")
    early = [client(f"e{n}", 0, start="2012-05-01") for n in range(2)]
    late = [client(f"l{n}", 1, start="2012-11-01", offence_on="2013-01-01",
                   disposal_on="2013-02-01") for n in range(2)]
    rows = cohort_outcomes(early + late, [first, later], AFTER)
    # 4 members, 2 with an offence: observed 0.5 against the baseline 0.5, r = 0, nothing paid
    assert [(r.ruleset, r.status, r.amount) for r in rows] == [
        ("cohort-2012", Status.FAILED, None)]
    assert "cohort of 4 journeys" in rows[0].explanation


def test_a_journey_under_a_ruleset_with_another_cohort_start_is_not_in_this_cohort():
    text = RULESET_TEXT.format(metric="binary", baseline="0.5", by="site")
    first, later = parse_ruleset(text), _later(text, "2012-10-01", cohort_start="2012-10-01")
    early = [client(f"e{n}", 0, start="2012-05-01") for n in range(2)]
    late = [client(f"l{n}", 1, start="2012-11-01", offence_on="2013-01-01",
                   disposal_on="2013-02-01") for n in range(2)]
    rows = cohort_outcomes(early + late, [first, later],
                           date(2015, 5, 1))  # after the later cohort's evidence date too
    assert sorted((r.ruleset, r.explanation.split(" at site")[0]) for r in rows) == [
        ("cohort-2012", "cohort of 2 journeys"), ("cohort-2012-b", "cohort of 2 journeys")]


def _died(name, on, offences=0):
    """A cohort member (started 2012-06-01, window to 2013-06-01) whose client died on ``on``."""
    alive = client(name, offences)
    events = [alive.registration, alive.journeys[0].start, *alive.offences,
              record("died", client=name, on=on, source_id=f"{name}d")]
    return build_history(events, AFTER, AFTER)


def test_a_member_who_offended_and_then_died_inside_the_window_stays_with_the_offence():
    histories = cohort(0, 1) + [_died("x", "2012-12-01", offences=1)]
    rows = cohort_outcomes(histories, [ruleset()], AFTER)  # 0.5 vs 0.5: r = 0
    assert rows[0].reason == "reduction_below_first_step"
    assert "cohort of 2 journeys" in rows[0].explanation
    assert "though the client died inside it: x/J1 (died 2012-12-01, 1 offence(s))" in \
        rows[0].explanation


def test_a_member_who_died_on_the_window_end_or_later_stays():
    histories = cohort(1, 0) + [_died("w", "2013-06-01"), _died("v", "2013-09-01")]
    rows = cohort_outcomes(histories, [ruleset()], AFTER)  # 1/3 vs 0.5: r = 1/3
    assert rows[0].amount == Decimal("30000.00")
    assert "cohort of 3 journeys" in rows[0].explanation
    assert "left the cohort" not in rows[0].explanation


def test_the_member_who_left_is_named_and_its_death_cited():
    histories = cohort(0, 1) + [_died("d", "2012-12-01")]
    row = cohort_outcomes(histories, [ruleset()], AFTER)[0]
    assert "cohort of 1 journeys" in row.explanation
    assert "left the cohort, the client having died inside the window with no proven offence " \
        "in it: d/J1 (died 2012-12-01)" in row.explanation
    assert ("dd", date(2012, 12, 1)) in [(c.source_id, c.on) for c in row.citations]


def test_a_cohort_whose_every_member_left_has_no_row():
    assert cohort_outcomes([_died("d", "2012-12-01")], [ruleset()], AFTER) == []


def test_pay_if_died_does_not_keep_an_offence_free_death_in_the_cohort():
    text = RULESET_TEXT.format(metric="binary", baseline="0.5", by="site")
    paying = parse_ruleset(text.replace('sites = ["*"]', 'sites = ["*"]\npay_if_died = true'))
    rows = cohort_outcomes(cohort(1, 1) + [_died("d", "2012-12-01")], [paying], AFTER)
    assert rows[0].reason == "reduction_below_first_step"  # 1/2 vs 0.5, without the death
