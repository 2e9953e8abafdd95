"""Properties of the outcome engine over simulated clients (hypothesis, 200+ examples each)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.rulesets import example_ruleset_text, parse_ruleset
from ledger.simulation import simulate_client
from projections.engine import derive_client
from tests.factories import record

RULESET = parse_ruleset(example_ruleset_text().replace(
    'instalments = []', 'instalments = ["3m", "6m", "9m", "12m"]'))
EXAMPLE = parse_ruleset(example_ruleset_text())
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
DATES = st.dates(min_value=date(2012, 6, 30), max_value=date(2016, 6, 30))


def client_events(seed: int) -> list:
    """One simulated client's records as events, in the order received."""
    rows = simulate_client(random.Random(seed), seed % 1000 + 1)
    events = []
    for version, (_, _, fields) in enumerate(rows, start=1):
        fields = dict(fields)
        events.append(record(fields.pop("type"), version=version, **fields))
    return events


def _rows(events, rulesets, as_of, known_on):
    derived = derive_client(events, rulesets, as_of, known_on)
    return None if derived is None else derived.outcomes


@SETTINGS
@given(seed=st.integers(0, 10**6), as_of=DATES, data=st.data())
def test_the_result_does_not_depend_on_the_order_records_were_imported(seed, as_of, data):
    events = client_events(seed)
    shuffled = data.draw(st.permutations(events))
    assert _rows(shuffled, [RULESET], as_of, as_of) == _rows(events, [RULESET], as_of, as_of)


@SETTINGS
@given(seed=st.integers(0, 10**6), as_of=DATES, known_on=DATES)
def test_records_received_after_the_knowledge_date_never_change_a_result(seed, as_of,
                                                                          known_on):
    events = client_events(seed)
    known = [e for e in events if e.received_on <= known_on]
    assert _rows(events, [RULESET], as_of, known_on) == _rows(known, [RULESET], as_of,
                                                              known_on)


@SETTINGS
@given(seed=st.integers(0, 10**6), as_of=DATES)
def test_instalments_sum_exactly_to_the_outcome_amount(seed, as_of):
    for row in _rows(client_events(seed), [RULESET], as_of, as_of) or ():
        if row.instalments is None:
            continue
        achieved = [i.amount for i in row.instalments if i.amount is not None]
        assert (row.amount or Decimal("0")) == sum(achieved, Decimal("0"))
        if row.instalments and all(i.amount is not None for i in row.instalments):
            params = getattr(RULESET.outcomes, row.outcome)
            assert sum(achieved, Decimal("0")) > 0
            assert row.amount <= RULESET.amount(params.tariff, 3)


@SETTINGS
@given(seed=st.integers(0, 10**6), as_of=DATES,
       policy=st.sampled_from(["after_final_window", "every_journey", "never"]))
def test_no_recovery_cycle_earns_more_than_an_outcomes_tariff(seed, as_of, policy):
    ruleset = parse_ruleset(example_ruleset_text().replace(
        'relapse = "after_final_window"', f'relapse = "{policy}"'))
    earned: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in _rows(client_events(seed), [ruleset], as_of, as_of) or ():
        cycle = 0 if row.outcome == "hepatitis_b" else row.cycle
        earned[(cycle, row.outcome)] += row.amount or Decimal("0")
    highest = max(ruleset.band_multipliers.values())
    for (_, outcome), amount in earned.items():
        assert amount <= getattr(ruleset.outcomes, outcome).tariff * highest
