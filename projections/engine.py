"""The outcome engine: every outcome of every journey of a client, as of E known on K.

RULES.md §1-4 and §6. A client's history is built once; each journey gets the ruleset in force
for its site on its start date; every outcome that ruleset switches on is found by its rule
(:mod:`projections.treatment`, :mod:`projections.offending`); then death applies, entitlements are
allocated across recovery cycles, and amounts and payable dates are set. Pure: no storage, no
clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from ledger.durations import Duration
from ledger.events import Died, RecordEvent
from ledger.rulesets import OPTIONS, Outcome, Ruleset, select_ruleset
from projections import cohort, offending, treatment
from projections.history import build_history
from projections.model import (
    Citation,
    ClientOutcomes,
    Finding,
    History,
    InstalmentFinding,
    InstalmentResult,
    Journey,
    OutcomeResult,
    Status,
    Unruled,
)
from projections.recovery import assign_cycles, split_instalments

ADULT_AGE = 18
ZERO = Decimal("0.00")


def _offending_initial(history: History, journey: Journey, ruleset: Ruleset,
                       as_of: date) -> Finding:
    """3.1 offending_initial: individual measure (:mod:`projections.offending`), or the
    journey's row of a cohort measure (:mod:`projections.cohort`)."""
    params = ruleset.outcomes.offending_initial
    assert params is not None
    if params.measure == "cohort":
        return cohort.journey_finding(history, journey, params, as_of)
    return offending.offending_initial(history, journey, params, as_of)


def _offending_final(history: History, journey: Journey, ruleset: Ruleset,
                     as_of: date) -> Finding:
    """3.2 offending_final: individual measure (:mod:`projections.offending`), or the
    journey's row of a cohort measure (:mod:`projections.cohort`)."""
    params = ruleset.outcomes.offending_final
    assert params is not None
    if params.measure == "cohort":
        return cohort.journey_finding(history, journey, params, as_of)
    return offending.offending_final(history, journey, params, as_of)


RULES = {**treatment.RULES, "offending_initial": _offending_initial,
         "offending_final": _offending_final}


@dataclass(frozen=True)
class Terms:
    """One outcome a ruleset switches on, read from the ruleset once (not once per journey)."""

    outcome: str
    option: str  # its option number in the draft ("3.2")
    params: Outcome
    instalments: int  # how many instalments it is paid in; 0 when paid once
    lag: Duration
    tariff: Decimal


class RulesetTerms:
    """A ruleset's switched-on outcomes and its amounts per LASARS band, worked out once.

    A published ruleset never changes (and the model is frozen), so what is read from it here
    stays true for as long as the ruleset itself is used.
    """

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.id = ruleset.id
        self.outcomes = tuple(_terms(ruleset, outcome)
                              for outcome in ruleset.outcomes.switched_on())
        # 1.3: whether 1.1 and 1.3 are both paid here, so at most one of them per cycle
        self.alternatives = any(t.outcome == "drug_reduction_initial" for t in self.outcomes)
        self._amounts: dict[tuple[str, int | None], Decimal] = {}
        self._shares: dict[tuple[Decimal, int], list[Decimal]] = {}

    def amount(self, terms: Terms, band: int | None) -> Decimal:
        """RULES.md §6: the outcome's tariff times the band's multiplier, to the penny."""
        key = (terms.outcome, band)
        if key not in self._amounts:
            self._amounts[key] = self.ruleset.amount(terms.tariff, band)
        return self._amounts[key]

    def shares(self, amount: Decimal, count: int) -> list[Decimal]:
        """1.2 instalments: :func:`split_instalments`, remembered (few amounts recur)."""
        key = (amount, count)
        if key not in self._shares:
            self._shares[key] = split_instalments(amount, count)
        return self._shares[key]


def _terms(ruleset: Ruleset, outcome: str) -> Terms:
    params = getattr(ruleset.outcomes, outcome)
    return Terms(outcome, OPTIONS[outcome], params, len(getattr(params, "instalments", ())),
                 params.lag, params.tariff)


_RULESET_TERMS: dict[int, RulesetTerms] = {}


def ruleset_terms(ruleset: Ruleset) -> RulesetTerms:
    """The terms of a ruleset, remembered by identity (the entry keeps the ruleset alive, so
    its ``id`` is never reused while remembered)."""
    found = _RULESET_TERMS.get(id(ruleset))
    if found is None:
        if len(_RULESET_TERMS) >= 64:
            _RULESET_TERMS.clear()
        found = _RULESET_TERMS[id(ruleset)] = RulesetTerms(ruleset)
    return found


@dataclass(slots=True)
class Unit:
    """One entitlement of one journey while it is being allocated: an outcome or an instalment."""

    journey: Journey
    outcome: str
    n: int | None
    status: Status
    evidence_on: date | None
    reason: str
    explanation: str


@dataclass(slots=True)
class Draft:
    journey: Journey
    terms: Terms
    priced: RulesetTerms  # the governing ruleset, with its amounts
    cycle: int
    finding: Finding
    units: list[Unit]
    deduction: Decimal = ZERO  # 1.1 paid less what 1.3 paid earlier in the cycle

    @property
    def outcome(self) -> str:
        return self.terms.outcome


def derive_client(events: Iterable[RecordEvent], rulesets: Sequence[Ruleset], as_of: date,
                  known_on: date) -> ClientOutcomes | None:
    """Every outcome of the client's journeys; ``None`` if the client is not registered on K."""
    history = build_history(events, known_on, as_of)
    return None if history is None else derive_history(history, rulesets)


def derive_all(events_by_client: Mapping[str, Sequence[RecordEvent]],
               rulesets: Sequence[Ruleset], as_of: date, known_on: date,
               ) -> tuple[list[OutcomeResult], list[Unruled]]:
    """Every client's outcomes, then the cohort outcomes (RULES.md §4 cohort measure)."""
    results: list[OutcomeResult] = []
    unruled: list[Unruled] = []
    histories: list[History] = []
    for client in sorted(events_by_client):
        history = build_history(events_by_client[client], known_on, as_of)
        if history is None:
            continue
        derived = derive_history(history, rulesets)
        history.clocks.clear()  # kept for the cohort outcomes, which need no clock
        histories.append(history)
        results.extend(derived.outcomes)
        unruled.extend(derived.unruled)
    results.extend(cohort.cohort_outcomes(histories, list(rulesets), as_of))
    return results, unruled


def derive_history(history: History, rulesets: Sequence[Ruleset],
                   only: frozenset[str] | None = None) -> ClientOutcomes:
    """Every outcome of the client's journeys; with ``only``, just those outcomes.

    Outcomes are worked out independently of one another — cycles come from the ruleset, death,
    allocation within a cycle and 1.1 / 1.3 are per outcome — so the outcomes in ``only`` (1.1
    and 1.3 together) come out exactly as in the full derivation (RULES.md §11: a comparison
    re-derives only what two rulesets set differently).
    """
    every = list(rulesets)
    governing = {j.journey: select_ruleset(every, history.site, j.started_on)
                 for j in history.journeys}
    cycles = assign_cycles(history.journeys, governing)
    drafts: list[Draft] = []
    alternatives = False
    for journey in history.journeys:
        ruleset = governing[journey.journey]
        if ruleset is None:
            continue
        terms = ruleset_terms(ruleset)
        alternatives = alternatives or terms.alternatives
        under_18 = _under_18(history, journey)
        for outcome in terms.outcomes:
            if only is not None and outcome.outcome not in only:
                continue
            # A cohort-measured outcome still has its row per journey (CONTRACT.md: every
            # journey once per outcome switched on), ineligible with the reason cohort_measure;
            # its payment is the cohort's row (projections.cohort).
            finding = under_18 or _finding(history, journey, ruleset, outcome.outcome)
            finding = _with_instalments(finding, outcome.instalments)
            drafts.append(Draft(journey, outcome, terms, cycles[journey.journey], finding,
                                _units(journey, outcome.outcome, finding)))
    if history.died is not None:
        for draft in drafts:
            _apply_death(history, draft)
    if len(history.journeys) > 1:
        _allocate(drafts)
    if alternatives:
        _initial_alternatives(drafts)
    unruled = tuple(Unruled(history.client, j.journey, j.started_on)
                    for j in history.journeys if governing[j.journey] is None)
    return ClientOutcomes(history.client, tuple([_result(history, d) for d in drafts]), unruled)


def _under_18(history: History, journey: Journey) -> Finding | None:
    """§1: every outcome requires age 18 or over on the journey's start date."""
    age = history.age_on(journey.started_on)
    if age < ADULT_AGE:
        return Finding(Status.INELIGIBLE, None, "under_18",
                       f"the client was {age} on the journey's start date "
                       f"{journey.started_on}; every outcome requires 18 or over")
    return None


def _finding(history: History, journey: Journey, ruleset: Ruleset, outcome: str) -> Finding:
    """The outcome's rule, for an adult journey (see :func:`_under_18`)."""
    finding = RULES[outcome](history, journey, ruleset, history.as_of)
    if finding.status is Status.ACHIEVED and (finding.evidence_on is None
                                              or finding.evidence_on > history.as_of):
        # §4: nothing achieved by a later fact.
        return Finding(Status.PENDING, finding.evidence_on, finding.reason, finding.explanation,
                       finding.citations, finding.instalments)
    return finding


def _with_instalments(finding: Finding, count: int) -> Finding:
    """CONTRACT.md: an outcome paid in ``count`` instalments always lists them; where the rule
    found none (the journey is open, or the outcome is ineligible) each shares the outcome's
    status."""
    if not count or finding.instalments:
        return finding
    return Finding(finding.status, finding.evidence_on, finding.reason, finding.explanation,
                   finding.citations, tuple(
                       InstalmentFinding(n, finding.status, None, finding.reason,
                                         finding.explanation) for n in range(1, count + 1)))


def _units(journey: Journey, outcome: str, finding: Finding) -> list[Unit]:
    if finding.instalments:
        return [Unit(journey, outcome, i.n, i.status, i.evidence_on, i.reason, i.explanation)
                for i in finding.instalments]
    return [Unit(journey, outcome, None, finding.status, finding.evidence_on, finding.reason,
                 finding.explanation)]


def _apply_death(history: History, draft: Draft) -> None:
    """§4 Death: after a death on X every pending outcome and instalment fails (reason died);
    one achieved later than X fails too, since as of X it was still pending (decision 4).
    ``pay_if_died = true`` exempts 1.2's window (decision 5)."""
    died = history.died
    if died is None:
        return
    if draft.outcome == "drug_free_final" and draft.priced.ruleset.pay_if_died:
        return
    changed = False
    for unit in draft.units:
        late = unit.status is Status.ACHIEVED and unit.evidence_on is not None \
            and unit.evidence_on > died.on
        # A failure established on the day of death or later (the death closed the journey)
        # is the death's doing: it carries the reason died.
        ended_by_death = unit.status is Status.FAILED and unit.evidence_on is not None \
            and unit.evidence_on >= died.on
        if unit.status is Status.PENDING or late or ended_by_death:
            unit.explanation = _death_text(died, unit, late, ended_by_death)
            unit.status, unit.evidence_on, unit.reason = Status.FAILED, died.on, "died"
            changed = True
    if changed and all(c.source_id != died.source_id for c in draft.finding.citations):
        draft.finding = replace(draft.finding, citations=(
            *draft.finding.citations, Citation(died.source_id, died.on, "the client died")))


def _death_text(died: Died, unit: Unit, late: bool, ended_by_death: bool) -> str:
    """§4 Death, in words that agree with the status ``failed``: what the death cut short.
    The rule's own words are kept only where they already describe a failure."""
    record = f"the client died on {died.on} (record {died.source_id})"
    if late:
        return (f"failed: {record}, before {unit.evidence_on}, the evidence date this needed; "
                "nothing is earned after a death")
    if ended_by_death:
        return f"failed: {record}; {unit.explanation}"
    return f"failed: {record} while this was still pending"


def _superseded(unit: Unit, earned_on: date | None) -> bool:
    """Whether ``unit`` stands after its cycle earned the entitlement on ``earned_on``: achieved
    or pending, or failed on that day or later (§3: the others are ``ineligible`` from then on;
    decision 15). A failure established before the cycle earned it stays a failure."""
    if unit.status in (Status.ACHIEVED, Status.PENDING):
        return True
    return unit.status is Status.FAILED and unit.evidence_on is not None \
        and earned_on is not None and unit.evidence_on >= earned_on


def _allocate(drafts: list[Draft]) -> None:
    """§3: within a cycle each entitlement is earned once: by the earliest ``evidence_on``, the
    earlier journey on a tie; the others are ``ineligible`` from then on. Hepatitis B (4.3) is
    earned once per client."""
    groups: dict[tuple, list[Unit]] = {}
    for draft in drafts:
        cycle = 0 if draft.outcome == "hepatitis_b" else draft.cycle
        for unit in draft.units:
            groups.setdefault((cycle, draft.outcome, unit.n), []).append(unit)
    for units in groups.values():
        earned = [u for u in units if u.status is Status.ACHIEVED]
        if not earned:
            continue
        winner = min(earned, key=lambda u: (u.evidence_on, u.journey.started_on,
                                            u.journey.journey))
        for unit in units:
            if unit is not winner and _superseded(unit, winner.evidence_on):
                unit.status, unit.evidence_on = Status.INELIGIBLE, None
                unit.reason = "already_earned_in_cycle"
                unit.explanation = (f"already earned in this recovery cycle by journey "
                                    f"{winner.journey.journey} on {winner.evidence_on}")


def _initial_alternatives(drafts: list[Draft]) -> None:
    """1.3: at most one of 1.1 and 1.3 per cycle. 1.3 is paid only while 1.1 is not achieved
    (earlier or on the same day); if 1.1 comes later in the cycle it is paid less what 1.3 paid,
    which :func:`_result` deducts. Where 1.3 is not switched on, 1.1 stands alone."""
    by_cycle: dict[int, dict[str, Unit]] = {}
    for draft in drafts:
        if draft.outcome in ("drug_free_initial", "drug_reduction_initial"):
            for unit in draft.units:
                if unit.status is Status.ACHIEVED:
                    by_cycle.setdefault(draft.cycle, {})[draft.outcome] = unit
    reductions = {d.cycle: d for d in drafts if d.outcome == "drug_reduction_initial"
                  and d.units[0].status is Status.ACHIEVED}
    for draft in drafts:
        earned = by_cycle.get(draft.cycle, {})
        full = earned.get("drug_free_initial")
        if draft.outcome == "drug_free_initial" and draft.units[0] is full:
            reduction = earned.get("drug_reduction_initial")
            if reduction is not None and reduction.evidence_on < full.evidence_on:
                draft.deduction = _amount(reductions[draft.cycle])
                full.explanation += (f"; paid less the {draft.deduction} that 1.3 "
                                     f"drug_reduction_initial earned on {reduction.evidence_on}")
        if draft.outcome != "drug_reduction_initial" or full is None:
            continue
        for unit in draft.units:
            if unit.status is Status.ACHIEVED and unit.evidence_on < full.evidence_on:
                continue  # earned first: 1.1 is paid less it
            if _superseded(unit, full.evidence_on):
                unit.status, unit.evidence_on = Status.INELIGIBLE, None
                unit.reason = "drug_free_initial_earned"
                unit.explanation = (f"1.1 drug_free_initial was earned in this cycle on "
                                    f"{full.evidence_on}; 1.3 is paid only instead of it")


def _amount(draft: Draft) -> Decimal:
    return draft.priced.amount(draft.terms, draft.journey.lasars_band)


def _result(history: History, draft: Draft) -> OutcomeResult:
    journey, terms, priced = draft.journey, draft.terms, draft.priced
    if not draft.finding.instalments:
        unit = draft.units[0]
        status = unit.status
        evidence_on = payable_on = paid = None
        if status is Status.ACHIEVED:
            evidence_on, payable_on = unit.evidence_on, terms.lag.after(unit.evidence_on)
            paid = max(ZERO, priced.amount(terms, journey.lasars_band) - draft.deduction)
        # Positional (in OutcomeResult's field order): a rebuild makes millions of these, and
        # seventeen keywords cost more to bind than the value costs to make.
        return OutcomeResult(
            history.client, journey.journey, terms.outcome, terms.option,
            status, evidence_on, payable_on, paid, unit.reason, unit.explanation,
            priced.id, journey.provider, history.site, draft.finding.citations,
            None, None, draft.cycle)  # no instalments, not a cohort's; its cycle
    shares = priced.shares(priced.amount(terms, journey.lasars_band), len(draft.units))
    instalments = tuple(_instalment(unit, share, terms.lag) for unit, share in
                        zip(draft.units, shares, strict=True))
    status, evidence_on, payable_on, total, reason, explanation = _roll_up(instalments,
                                                                           draft.finding)
    return OutcomeResult(
        history.client, journey.journey, terms.outcome, terms.option,
        status, evidence_on, payable_on, total, reason, explanation,
        priced.id, journey.provider, history.site, draft.finding.citations,
        instalments, None, draft.cycle)  # not a cohort's; its cycle


def _instalment(unit: Unit, share: Decimal, lag: Duration) -> InstalmentResult:
    achieved = unit.status is Status.ACHIEVED
    return InstalmentResult(
        unit.n or 1, unit.status, unit.evidence_on if achieved else None,
        lag.after(unit.evidence_on) if achieved else None,  # type: ignore[arg-type]
        share if achieved else None, unit.reason, unit.explanation)


def _roll_up(instalments: tuple[InstalmentResult, ...], finding: Finding,
             ) -> tuple[Status, date | None, date | None, Decimal | None, str, str]:
    """CONTRACT.md: an instalment outcome's status counts its instalments that are not
    ineligible: achieved when all are, pending while any is, otherwise failed (ineligible when
    all are); its dates are the last achieved instalment's, its amount their sum."""
    counted = [i for i in instalments if i.status is not Status.INELIGIBLE]
    achieved = [i for i in counted if i.status is Status.ACHIEVED]
    if not counted:
        status = Status.INELIGIBLE
    elif len(achieved) == len(counted):
        status = Status.ACHIEVED
    elif any(i.status is Status.PENDING for i in counted):
        status = Status.PENDING
    else:
        status = Status.FAILED
    last = max(achieved, key=lambda i: i.evidence_on, default=None)  # type: ignore[arg-type]
    reason = finding.reason
    explanation = finding.explanation
    if status is Status.INELIGIBLE:
        reason, explanation = instalments[0].reason, instalments[0].explanation
    elif status is Status.FAILED:
        # The outcome failed as its first failed instalment did: a death after the rule's
        # finding (reason died) is the outcome's reason too, not the rule's.
        first = min((i for i in counted if i.status is Status.FAILED), key=lambda i: i.n)
        if first.reason != finding.reason:
            reason, explanation = first.reason, first.explanation
    return (status, None if last is None else last.evidence_on,
            None if last is None else last.payable_on,
            sum((i.amount for i in achieved), ZERO) if achieved else None,
            reason, explanation)
