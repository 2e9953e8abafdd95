"""Pure payment-run arithmetic (RULES.md §5, §7): payments, clawbacks, adjustments, sums."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.model import InstalmentResult, OutcomeResult, Status
from projections.payments import (
    Adjustment,
    Line,
    adjustment_lines,
    entitlement_lines,
    entitlements,
    line_json,
    lines_digest,
    net_paid,
    totals,
)

E = date(2013, 6, 30)


def result(status=Status.ACHIEVED, amount="500.00", payable_on=date(2013, 5, 10),
           outcome="offending_initial", instalments=None, client="C9") -> OutcomeResult:
    return OutcomeResult(
        client=client, journey="J1", outcome=outcome, option="3.1", status=status,
        evidence_on=date(2012, 7, 10), payable_on=payable_on,
        amount=None if amount is None else Decimal(amount), reason="r", explanation="why",
        ruleset="example-2012", provider="P1", site="S1", instalments=instalments)


def lines_for(results, paid=None, clawback=True):
    found = entitlements(results, E, {"example-2012": clawback})
    return entitlement_lines(found, paid or {})


def test_an_achieved_outcome_payable_by_the_run_date_is_paid():
    lines, _ = lines_for([result()])
    assert [(line.kind, line.amount) for line in lines] == [("payment", Decimal("500.00"))]


def test_an_outcome_payable_the_day_after_the_run_date_is_not_paid_yet():
    lines, _ = lines_for([result(payable_on=date(2013, 7, 1))])
    assert lines == []


def test_an_outcome_payable_on_the_run_date_is_paid():
    lines, _ = lines_for([result(payable_on=E)])
    assert len(lines) == 1


def test_what_was_paid_and_is_no_longer_payable_is_clawed_back():
    paid_lines, _ = lines_for([result()])
    lines, _ = lines_for([result(status=Status.FAILED, amount=None)], net_paid(paid_lines))
    assert [(line.kind, line.amount) for line in lines] == [("clawback", Decimal("-500.00"))]


def test_payable_again_after_a_clawback_is_paid_again():
    first, _ = lines_for([result()])
    second, _ = lines_for([result(status=Status.FAILED, amount=None)], net_paid(first))
    third, _ = lines_for([result()], net_paid(first + second))
    assert [(line.kind, line.amount) for line in third] == [("payment", Decimal("500.00"))]


def test_with_clawback_off_an_overpayment_is_reported_not_recovered():
    first, _ = lines_for([result()])
    lines, overpayments = lines_for([result(status=Status.FAILED, amount=None)],
                                    net_paid(first), clawback=False)
    assert lines == []
    assert [(o.paid, o.payable) for o in overpayments] == [(Decimal("500.00"), Decimal("0.00"))]


def test_an_entitlement_already_paid_in_full_gets_no_line():
    first, _ = lines_for([result()])
    assert lines_for([result()], net_paid(first))[0] == []


def test_each_instalment_is_its_own_entitlement():
    instalments = tuple(InstalmentResult(n, Status.ACHIEVED if n < 3 else Status.PENDING,
                                         date(2013, 3, 15), date(2013, 5, 10) if n < 3 else None,
                                         Decimal("500.00") if n < 3 else None, "r", "why")
                        for n in range(1, 5))
    lines, _ = lines_for([result(outcome="drug_free_final", instalments=instalments)])
    assert [(line.instalment, line.amount) for line in lines] == [(1, Decimal("500.00")),
                                                                   (2, Decimal("500.00"))]


def test_an_upheld_adjustment_is_paid_once():
    adjustment = Adjustment("D0001", Decimal("-100.00"), "P1", "S1", "C9", "J1",
                            "offending_initial", None, "over-claimed band")
    first = adjustment_lines([adjustment], set())
    assert [(line.kind, line.amount) for line in first] == [("adjustment", Decimal("-100.00"))]
    assert adjustment_lines([adjustment], {"D0001"}) == []


def test_totals_are_summed_per_provider_and_per_site():
    lines, _ = lines_for([result(), result(client="C10")])
    assert totals(lines, "provider") == {"P1": Decimal("1000.00")}
    assert totals(lines, "site") == {"S1": Decimal("1000.00")}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["250.00", "500.00", "750.01"]),
                          st.booleans()), min_size=1, max_size=12))
def test_over_any_sequence_of_runs_lines_sum_to_what_is_payable_at_the_last(steps):
    """Property (issue: payment runs): each entitlement's lines net to its last payable amount."""
    history = []
    for achieved, amount, _clawback in steps:
        status = Status.ACHIEVED if achieved else Status.FAILED
        current = result(status=status, amount=amount if achieved else None)
        lines, _ = lines_for([current], net_paid(history), clawback=True)
        history += lines
    last_achieved, last_amount, _ = steps[-1]
    expected = Decimal(last_amount) if last_achieved else Decimal("0.00")
    assert sum((line.amount for line in history), Decimal("0.00")) == expected


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_lines_digest_is_the_digest_of_the_lines_as_one_json_text(count):
    lines = [Line(f"C{n}", f"J{n}", "drug_free_final", None, "payment", Decimal("1.10"), "P1",
                  "S1", reason=f"achieved on 2013-0{n + 1}-01 — “cited”") for n in range(count)]
    text = json.dumps([line.as_json() for line in lines], sort_keys=True)
    assert lines_digest(lines) == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("cohort, dispute", [(None, None), ("S1-2012-Q2", None), (None, "D7")])
def test_a_stored_line_reads_back_as_its_contract_object(cohort, dispute):
    line = Line("C1", "J1", "housing", None, "payment", Decimal("250.00"), "P1", "S1",
                cohort=cohort, dispute=dispute, reason="housing achieved")
    assert line_json(line.as_row()) == line.as_json()
    assert list(line_json(line.as_row())) == list(line.as_json())  # same keys, same order
    assert line_json(line.as_json()) == line.as_json()  # a run recorded before: an object
