"""3.1 / 3.2 offending, cohort measure (RULES.md §4 "3.1 / 3.2 cohort measure", §6).

The cohort is every eligible journey of a site (and provider, with ``cohort_by = "provider"``)
starting in the 12 months from ``cohort_start``. Ratios are exact fractions (``Fraction``, converted
exactly from the ruleset's decimals); money is ``Decimal``. Decisions are numbered as in
``docs/rules/offending.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from ledger.durations import months
from ledger.rulesets import OPTIONS, PENNY, Offending, Ruleset, select_ruleset
from projections.model import Citation, Finding, History, Journey, OutcomeResult, Status
from projections.offending import journey_offences

ADULT_AGE = 18  # RULES.md §1: every outcome requires age 18 or over on the journey's start date.
COHORT_PERIOD = months(12)  # RULES.md §4: the cohort period is 12 months from cohort_start.


@dataclass(frozen=True)
class Member:
    """One journey of a cohort and the proven offences dated in its window.

    ``died_on`` is the client's date of death when it falls inside the journey's window; such a
    member with no offence in the window has left the cohort (:func:`leaves_cohort`).
    """

    history: History
    journey: Journey
    offences: int
    died_on: date | None = None

    @property
    def left(self) -> bool:
        return leaves_cohort(self.died_on, self.offences)

    @property
    def name(self) -> str:
        return f"{self.history.client}/{self.journey.journey}"


def cohort_end(params: Offending) -> date:
    """3.1/3.2 cohort: the first day after the cohort period (cohort_start + 12m)."""
    assert params.cohort_start is not None
    return COHORT_PERIOD.after(params.cohort_start)


def cohort_evidence_on(params: Offending) -> date:
    """3.1/3.2 cohort: ``evidence_on = cohort end + window``.

    Decision 8 (RULES.md §4 cohort): the window is added to the cohort end (the day after the last
    possible start), which is on or after the end of every member's window.
    """
    return params.window.after(cohort_end(params))


def is_member(history: History, journey: Journey, ruleset: Ruleset, rulesets: list[Ruleset],
              outcome: str, params: Offending) -> bool:
    """3.1/3.2 cohort: an adult journey starting in the period, measured by this cohort.

    Decision 9 (RULES.md §4, §6): the cohort is every eligible journey of the site starting in
    the period, under the terms of the ruleset in force on the cohort start. A journey whose own
    start falls under a later ruleset is a member when that ruleset also measures the outcome by
    cohort from the same ``cohort_start``; one paid individually, or measured by another cohort,
    is not, so a journey is never measured twice. Whether a member whose client died inside
    its window stays is :func:`leaves_cohort`'s (decision 10).
    """
    assert params.cohort_start is not None
    if not params.cohort_start <= journey.started_on < cohort_end(params):
        return False
    if history.age_on(journey.started_on) < ADULT_AGE:
        return False
    own = select_ruleset(rulesets, history.site, journey.started_on)
    if own is None:
        return False
    if own is not ruleset:
        terms = getattr(own.outcomes, outcome)
        if terms is None or terms.measure != "cohort" or \
                terms.cohort_start != params.cohort_start:
            return False
    return True


def died_in_window(history: History, journey: Journey, params: Offending) -> date | None:
    """3.1/3.2 cohort: the client's date of death, as of E, when it falls inside the journey's
    window ``[S, S + window)``; ``None`` otherwise (alive, or died on or after the window's end).
    """
    died = history.died
    if died is None or not journey.started_on <= died.on < params.window.after(journey.started_on):
        return None
    return died.on


def leaves_cohort(died_on: date | None, offences: int) -> bool:
    """3.1/3.2 cohort, RULES.md §4 "Decision (death in a cohort window)" (decision 10): a member
    who dies inside their window with no proven offence in it leaves the cohort, a death not
    being an outcome to pay for; one with a proven offence in the window stays, with it, so an
    offender's death never improves the cohort's rate. A death after the window changes nothing.
    """
    return died_on is not None and offences == 0


def window_offences(history: History, journey: Journey, params: Offending, as_of: date) -> int:
    """3.1/3.2 cohort: the journey's counting offences, proven as of E, dated in its window.

    Decision 13 (RULES.md §2, §4 cohort): as for the individual measure, an offence counts once
    proven as of E, so a conviction disposed after the payment changes the next run.
    """
    end = params.window.after(journey.started_on)
    return sum(1 for o in journey_offences(history, journey, params, as_of) if o.offence_on < end)


def observed(members: Sequence[Member], metric: str) -> Fraction:
    """3.1/3.2 cohort: ``binary`` share with an offence, or ``frequency`` mean count."""
    if metric == "binary":
        return Fraction(sum(1 for m in members if m.offences > 0), len(members))
    return Fraction(sum(m.offences for m in members), len(members))


def reduction(baseline: Decimal, measured: Fraction) -> Fraction:
    """3.1/3.2 cohort: ``r = (baseline - observed) / baseline``, exact."""
    base = Fraction(baseline)
    return (base - measured) / base


def step_for(params: Offending, r: Fraction) -> tuple[Decimal, Decimal] | None:
    """3.1/3.2 cohort: the highest step whose threshold is ``<= r``; none below the first."""
    reached = [step for step in params.steps if Fraction(step[0]) <= r]
    return reached[-1] if reached else None


def split(amount: Decimal, sizes: dict[str, int]) -> dict[str, Decimal]:
    """3.1/3.2 cohort by site: the amount split across providers in proportion to cohort size.

    Decision 11 (RULES.md §4 cohort): each share is rounded half up to the penny and the
    remainder goes to the provider with the most journeys (the first by id on a tie), so the
    shares always add up to the amount exactly.
    """
    total = sum(sizes.values())
    largest = min(sizes, key=lambda p: (-sizes[p], p))
    shares = {p: (amount * n / total).quantize(PENNY, rounding=ROUND_HALF_UP)
              for p, n in sizes.items() if p != largest}
    shares[largest] = amount - sum(shares.values(), Decimal("0"))
    return dict(sorted(shares.items()))


def _fmt(value: Fraction) -> str:
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _groups(histories: Sequence[History], ruleset: Ruleset, rulesets: list[Ruleset],
            outcome: str, params: Offending, as_of: date,
            ) -> dict[tuple[str, str | None], list[Member]]:
    """3.1/3.2 cohort: members by (site, provider or None), for sites whose cohort this
    ruleset governs (the ruleset in force on the cohort start, RULES.md §6)."""
    assert params.cohort_start is not None
    groups: dict[tuple[str, str | None], list[Member]] = {}
    for history in histories:
        if select_ruleset(rulesets, history.site, params.cohort_start) is not ruleset:
            continue
        for journey in history.journeys:
            if not is_member(history, journey, ruleset, rulesets, outcome, params):
                continue
            key = (history.site, journey.provider if params.cohort_by == "provider" else None)
            count = window_offences(history, journey, params, as_of)
            died_on = died_in_window(history, journey, params)
            groups.setdefault(key, []).append(Member(history, journey, count, died_on))
    return groups


def cohort_outcomes(histories: Sequence[History], rulesets: Sequence[Ruleset],
                    as_of: date) -> list[OutcomeResult]:
    """3.1/3.2 cohort measure: one row per cohort and provider, for every ruleset and outcome.

    Decision 7 (RULES.md §4 cohort): a site or provider with no eligible journey in the period
    has no cohort and no row; nor has one whose every journey left it (decision 10).
    """
    every = list(rulesets)
    rows: list[OutcomeResult] = []
    for ruleset in sorted(every, key=lambda r: r.id):
        for outcome in ("offending_initial", "offending_final"):
            params = getattr(ruleset.outcomes, outcome)
            if params is None or params.measure != "cohort":
                continue
            groups = _groups(histories, ruleset, every, outcome, params, as_of)
            for (site, provider), members in sorted(groups.items(), key=lambda g: str(g[0])):
                if any(not m.left for m in members):
                    rows.extend(_cohort_rows(ruleset, outcome, params, site, provider,
                                             members, as_of))
    return rows


def _cohort_rows(ruleset: Ruleset, outcome: str, params: Offending, site: str,
                 provider: str | None, members: list[Member], as_of: date) -> list[OutcomeResult]:
    """3.1/3.2 cohort: the rows of one cohort (one per provider when measured by site).

    ``members`` includes those who left the cohort (decision 10): they are named, with why, in
    the explanation and citations, and counted nowhere.
    """
    assert params.cohort_start is not None and params.baseline is not None
    cohort_id = ":".join([outcome, site] + ([provider] if provider else [])
                         + [params.cohort_start.isoformat()])
    departed = [m for m in members if m.left]
    members = [m for m in members if not m.left]
    measured = observed(members, params.metric or "binary")
    r = reduction(params.baseline, measured)
    step = step_for(params, r)
    evidence_on = cohort_evidence_on(params)
    text = (f"cohort of {len(members)} journeys at site {site}"
            f"{f' provider {provider}' if provider else ''} starting {params.cohort_start} to "
            f"{cohort_end(params)} (exclusive); observed {params.metric} {_fmt(measured)} "
            f"over each journey's first {params.window}, baseline {params.baseline}, "
            f"reduction {_fmt(r)}{_deaths_text(departed, members)}")
    if as_of < evidence_on:
        status, reason, amount = Status.PENDING, "cohort_window_running", None
        text += f" so far; measured on {evidence_on}"
    elif step is None:
        status, reason, amount = Status.FAILED, "reduction_below_first_step", None
        text += " is below the first step: nothing is paid"
    else:
        status, reason, amount = Status.ACHIEVED, "reduction_step_reached", step[1]
        text += f"; step {step[0]} applies: {step[1]}"
    sizes: dict[str, int] = {}
    for member in members:
        sizes[member.journey.provider] = sizes.get(member.journey.provider, 0) + 1
    shares = split(amount, sizes) if amount is not None else {p: None for p in sorted(sizes)}
    citations = tuple(Citation(m.journey.start.source_id, m.journey.started_on,
                               f"cohort member {m.name}: {m.offences} offence(s) in window")
                      for m in members) + _death_citations(departed)
    rows = []
    for payee, share in shares.items():
        explanation = text
        if provider is None and len(shares) > 1:
            explanation += f"; provider {payee} has {sizes[payee]} of {len(members)} journeys"
            explanation += f": share {share}" if share is not None else ""
        rows.append(OutcomeResult(
            client=None, journey=None, outcome=outcome, option=OPTIONS[outcome], status=status,
            evidence_on=evidence_on if status is not Status.PENDING else None,
            payable_on=params.lag.after(evidence_on) if status is Status.ACHIEVED else None,
            amount=share, reason=reason, explanation=explanation, ruleset=ruleset.id,
            provider=payee, site=site, citations=citations, cohort=cohort_id))
    return rows


def _deaths_text(departed: list[Member], members: list[Member]) -> str:
    """Decision 10: which journeys left the cohort and which stayed though the client died."""
    text = ""
    if departed:
        text += (f"; {len(departed)} journey(s) left the cohort, the client having died inside "
                 "the window with no proven offence in it: "
                 + ", ".join(f"{m.name} (died {m.died_on})" for m in departed))
    stayed = [m for m in members if m.died_on is not None]
    if stayed:
        text += ("; stayed in the cohort with the offences in their window though the client "
                 "died inside it: " + ", ".join(
                     f"{m.name} (died {m.died_on}, {m.offences} offence(s))" for m in stayed))
    return text


def _death_citations(departed: list[Member]) -> tuple[Citation, ...]:
    cites = []
    for member in departed:
        died = member.history.died
        assert died is not None
        cites.append(Citation(died.source_id, died.on,
                              f"cohort member {member.name} left the cohort: died inside its "
                              "window with no proven offence in it"))
    return tuple(cites)


def journey_finding(history: History, journey: Journey, params: Offending,
                    as_of: date) -> Finding:
    """3.1/3.2 cohort: a journey's own row is ``ineligible`` (``cohort_measure``), its payment
    being the cohort's row; its explanation says whether a death inside the journey's window
    took it out of the cohort, or left it in with its offences (decision 10)."""
    text = "this outcome is paid on the cohort measure, not per journey"
    died_on = died_in_window(history, journey, params)
    if died_on is None or history.died is None:
        return Finding(Status.INELIGIBLE, None, "cohort_measure", text)
    offences = window_offences(history, journey, params, as_of)
    window = f"{journey.started_on} to {params.window.after(journey.started_on)} (exclusive)"
    text += f"; the client died on {died_on}, inside the journey's window {window}, "
    if leaves_cohort(died_on, offences):
        verdict = "left the cohort: no proven offence in the window"
        text += "with no proven offence in it, so the journey is left out of its cohort"
    else:
        verdict = f"stays in the cohort with its {offences} proven offence(s) in the window"
        text += (f"after {offences} proven offence(s) in it: the journey stays in its cohort "
                 "with them")
    return Finding(Status.INELIGIBLE, None, "cohort_measure", text,
                   (Citation(history.died.source_id, died_on, f"died; {verdict}"),))
