"""A client's derivation as projection rows, and back: pure, no storage.

The projection tables (:mod:`ledger.views`) keep, for every client, the outcome states, the
achieved entitlements and the offending clocks that the pure derivation gives as of the
projection's date. This module turns a client's history into those rows and turns rows back into
the values reports and payment runs use, so that a report read from the tables is the report the
derivation would print. Amounts are kept as their exact decimal text, dates as ISO text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from ledger.rulesets import OPTIONS, Ruleset, select_ruleset
from projections.compare import journey_offers, journey_profile, offer_total
from projections.engine import derive_history
from projections.forecast import Unit, client_units
from projections.model import (
    History,
    InstalmentResult,
    OutcomeResult,
    Status,
    Unruled,
)
from projections.offending import Clock, offending_clock
from projections.payments import Entitlement, payable

OUTCOME_COLUMNS = ("client", "seq", "journey", "outcome", "option", "status", "evidence_on",
                   "payable_on", "amount", "reason", "explanation", "ruleset", "provider",
                   "site", "cycle", "cohort", "instalments")
ENTITLEMENT_COLUMNS = ("client", "journey", "outcome", "instalment", "cohort", "provider",
                       "site", "ruleset", "status", "evidence_on", "payable_on", "amount",
                       "explanation")
CLOCK_COLUMNS = ("client", "journey", "outcome", "option", "window_length", "status", "reason",
                 "current_start", "target_on", "evidence_on", "reset_limit_on", "resets",
                 "starts", "explanation")
UNRULED_COLUMNS = ("client", "journey", "started_on")
# RULES.md §11 (compare reuses the published ruleset's rows) and §12 (the forecast reads them).
JOURNEY_COLUMNS = ("client", "journey", "provider", "site", "ruleset", "substance_group",
                   "offended_before", "injecting", "housing_problem", "lasars_band",
                   "max_earnable", "offers")
UNIT_COLUMNS = ("client", "journey", "outcome", "instalment", "provider", "site", "ruleset",
                "status", "amount", "payable_on")


@dataclass
class Rows:
    """Rows for each projection table, in their tables' column order."""

    outcomes: list[tuple] = field(default_factory=list)
    entitlements: list[tuple] = field(default_factory=list)
    clocks: list[tuple] = field(default_factory=list)
    unruled: list[tuple] = field(default_factory=list)
    journeys: list[tuple] = field(default_factory=list)
    units: list[tuple] = field(default_factory=list)

    def extend(self, other: Rows) -> None:
        self.outcomes += other.outcomes
        self.entitlements += other.entitlements
        self.clocks += other.clocks
        self.unruled += other.unruled
        self.journeys += other.journeys
        self.units += other.units

    def tables(self) -> tuple[list[tuple], ...]:
        """The rows of every table, in :class:`Rows` field order (to hand between processes)."""
        return (self.outcomes, self.entitlements, self.clocks, self.unruled, self.journeys,
                self.units)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.tables())


def client_clocks(history: History, rulesets: Sequence[Ruleset], as_of: date) -> list[Clock]:
    """The offending clocks of each journey whose ruleset runs one (3.2; 3.1 with clock_reset)."""
    clocks = []
    every = list(rulesets)
    for journey in history.journeys:
        ruleset = select_ruleset(every, history.site, journey.started_on)
        if ruleset is None:
            continue
        for params in (ruleset.outcomes.offending_initial, ruleset.outcomes.offending_final):
            if params is None or params.measure != "individual" or not params.clock_reset:
                continue
            clocks.append(offending_clock(history, journey, params, as_of))
    return clocks


def client_rows(history: History, rulesets: Sequence[Ruleset], commissioning: bool = True) -> Rows:
    """Every projection row of one client, derived as of the history's E, known on its K;
    without ``commissioning``, none of the journey profiles and forecast units (an encrypted
    ledger keeps neither table, integrity decision 12)."""
    derived = derive_history(history, rulesets)
    rows = Rows()
    for seq, result in enumerate(derived.outcomes):
        rows.outcomes.append(outcome_row(result, seq))
        rows.entitlements += entitlement_rows(result)
    rows.clocks = [clock_row(history.client, clock)
                   for clock in client_clocks(history, rulesets, history.as_of)]
    rows.unruled = [(u.client, u.journey, u.started_on.isoformat()) for u in derived.unruled]
    if not commissioning:
        return rows
    by_id = {ruleset.id: ruleset for ruleset in rulesets}
    rows.journeys = journey_rows(history, derived.outcomes, by_id)
    rows.units = [unit_row(unit) for unit in client_units(history, derived.outcomes, by_id)]
    return rows


def journey_rows(history: History, results: Sequence[OutcomeResult],
                 rulesets: dict[str, Ruleset]) -> list[tuple]:
    """RULES.md §11: each ruled journey's profile and what its ruleset offers it in full."""
    by_journey: dict[str | None, list[OutcomeResult]] = {}
    for result in results:
        by_journey.setdefault(result.journey, []).append(result)
    rows = []
    for journey in history.journeys:
        mine = by_journey.get(journey.journey)
        if not mine:
            continue
        ruleset = rulesets[mine[0].ruleset]
        profile = journey_profile(history, journey)
        offers = journey_offers(mine, ruleset, journey.lasars_band)
        rows.append((history.client, journey.journey, journey.provider, history.site,
                     ruleset.id, profile.substance_group, int(profile.offended_before),
                     int(profile.injecting), int(profile.housing_problem), profile.lasars_band,
                     str(offer_total(offers)),
                     " ".join(f"{name}={amount}" for name, amount in offers.items())))
    return rows


def unit_row(unit: Unit) -> tuple:
    return (unit.client, unit.journey, unit.outcome, unit.instalment, unit.provider, unit.site,
            unit.ruleset, unit.status, _money(unit.amount), _iso(unit.payable_on))


def cohort_rows(results: Sequence[OutcomeResult]) -> Rows:
    """The rows of the cohort outcomes (``client`` null), numbered in derivation order."""
    rows = Rows()
    for seq, result in enumerate(results):
        rows.outcomes.append(outcome_row(result, seq))
        rows.entitlements += entitlement_rows(result)
    return rows


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def outcome_row(result: OutcomeResult, seq: int) -> tuple:
    instalments = None
    if result.instalments is not None:
        instalments = json.dumps([
            [i.n, str(i.status), _iso(i.evidence_on), _iso(i.payable_on), _money(i.amount),
             i.reason, i.explanation] for i in result.instalments])
    return (result.client, seq, result.journey, result.outcome, result.option,
            str(result.status), _iso(result.evidence_on), _iso(result.payable_on),
            _money(result.amount), result.reason, result.explanation, result.ruleset,
            result.provider, result.site, result.cycle, result.cohort, instalments)


def result_from_row(row: Sequence[Any]) -> OutcomeResult:
    """An outcome as the derivation gave it (its citations are for ``pbr explain``)."""
    (client, _, journey, outcome, option, status, evidence_on, payable_on, amount, reason,
     explanation, ruleset, provider, site, cycle, cohort, instalments) = row
    return OutcomeResult(
        client=client, journey=journey, outcome=outcome, option=option, status=Status(status),
        evidence_on=_day(evidence_on), payable_on=_day(payable_on), amount=_decimal(amount),
        reason=reason, explanation=explanation, ruleset=ruleset, provider=provider, site=site,
        instalments=None if instalments is None else tuple(
            InstalmentResult(n, Status(s), _day(e), _day(p), _decimal(a), r, x)
            for n, s, e, p, a, r, x in json.loads(instalments)),
        cohort=cohort, cycle=cycle)


def entitlement_rows(result: OutcomeResult) -> list[tuple]:
    """The achieved entitlements of an outcome: itself, or each achieved instalment."""
    base = (result.client, result.journey, result.outcome)
    if result.instalments is None:
        if result.status is not Status.ACHIEVED:
            return []
        return [(*base, None, result.cohort, result.provider, result.site, result.ruleset,
                 str(result.status), _iso(result.evidence_on), _iso(result.payable_on),
                 _money(result.amount), result.explanation)]
    return [(*base, i.n, result.cohort, result.provider, result.site, result.ruleset,
             str(i.status), _iso(i.evidence_on), _iso(i.payable_on), _money(i.amount),
             i.explanation)
            for i in result.instalments if i.status is Status.ACHIEVED]


def entitlement_from_row(row: Sequence[Any], as_of: date, clawback: bool) -> Entitlement:
    """An achieved entitlement as a payment run as of E sees it (RULES.md §5)."""
    (client, journey, outcome, instalment, cohort, provider, site, ruleset, status,
     evidence_on, payable_on, amount, explanation) = row
    payable_day = _day(payable_on)
    # A run reads every achieved entitlement: the few names repeated on every row are kept once.
    outcome, provider, site, ruleset, status = (
        None if text is None else sys.intern(text)
        for text in (outcome, provider, site, ruleset, status))
    return Entitlement((client, journey, outcome, instalment, cohort,
                        provider if cohort else None),
                       payable(_decimal(amount), status, payable_day, as_of), provider, site,
                       ruleset, clawback, status, _day(evidence_on),
                       payable_day, explanation)


def clock_row(client: str, clock: Clock) -> tuple:
    starts = json.dumps([
        [_iso(s.on), s.cause, s.offence, _iso(s.offence_on), s.disposal,
         _iso(s.disposal_on), s.release, _iso(s.released_on), _iso(s.superseded_on)]
        for s in clock.starts])
    return (client, clock.journey, clock.outcome, OPTIONS[clock.outcome], str(clock.window),
            str(clock.status), clock.reason, _iso(clock.current_start), _iso(clock.target_on),
            _iso(clock.evidence_on), _iso(clock.limit_on), len(clock.starts) - 1, starts,
            clock.explanation)


def unruled_from_row(row: Sequence[Any]) -> Unruled:
    return Unruled(row[0], row[1], date.fromisoformat(row[2]))
