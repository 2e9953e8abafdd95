"""The treatment outcomes of RULES.md §4: 1.1-1.4, 2.1, 2.2, 4.1-4.4, one function each.

Each rule reads one journey of a history (as known on K and as of E) and returns a
:class:`~projections.model.Finding`. Amounts, payable dates, recovery cycles and death are the
engine's (:mod:`projections.engine`); a rule says only whether its outcome is achieved, failed,
pending or ineligible, from which facts, and why. Decisions are numbered as in
``docs/rules/outcomes.md``.
"""

from __future__ import annotations

from datetime import date, timedelta

from ledger.events import TopRecorded
from ledger.rulesets import Ruleset
from projections.model import Citation, Finding, History, InstalmentFinding, Journey, Status
from projections.periods import period_end
from projections.reviews import Condition, first_qualifying_pair, start_top

# 1.1: the substances the draft lists; "other" presenting substances are not measured.
LISTED_SUBSTANCES = ("opiates", "crack", "cocaine", "alcohol", "cannabis", "amphetamines")
SUCCESSFUL = ("completed_drug_free", "completed_occasional_user")
SCORES = ("psychological_health", "physical_health", "quality_of_life")


def is_successful_completion(journey: Journey) -> bool:
    """RULES.md §2: completed drug free, or as an occasional user unless opiates or crack."""
    reason = journey.discharge_reason
    if reason == "completed_drug_free":
        return True
    return reason == "completed_occasional_user" and not {"opiates", "crack"} & journey.substances


def _top_cite(top: TopRecorded, what: str) -> Citation:
    return Citation(top.source_id, top.on, f"{top.stage} TOP: {what}")


def _start_cite(journey: Journey) -> Citation:
    return journey.start_citation


def _end_cite(journey: Journey) -> Citation:
    assert journey.end_citation is not None
    return journey.end_citation


def _pending(reason: str, text: str, *cites: Citation) -> Finding:
    return Finding(Status.PENDING, None, reason, text, tuple(cites))


def _ended_without(journey: Journey, what: str, reason: str = "ended_without_qualifying_pair"
                   ) -> Finding:
    return Finding(Status.FAILED, journey.discharged_on, reason,
                   f"the journey ended ({journey.discharge_reason}) on {journey.discharged_on} "
                   f"without {what}", (_start_cite(journey), _end_cite(journey)))


def _pair_outcome(journey: Journey, condition: Condition, ruleset: Ruleset, what: str,
                  ) -> Finding:
    """4.1 / 4.4 (and the pair step of 1.1, 1.3): achieved at r2 of the first qualifying pair."""
    pair = first_qualifying_pair(journey, condition, ruleset.min_review_gap)
    if pair is not None:
        first, second = pair
        return Finding(Status.ACHIEVED, second.on, "qualifying_pair",
                       f"reviews on {first.on} and {second.on} both record {what} "
                       f"({(second.on - first.on).days} days apart)",
                       (_start_cite(journey), _top_cite(first, what), _top_cite(second, what)))
    if journey.discharge is not None:
        return _ended_without(journey, f"two qualifying reviews recording {what}")
    return _pending("no_qualifying_pair_yet",
                    f"no two qualifying reviews recording {what} yet; the journey is open",
                    _start_cite(journey))


# 1.1 / 1.3 -------------------------------------------------------------------------------


def measured_substances(journey: Journey) -> list[str]:
    """1.1: the journey's presenting substances that the draft lists."""
    return [s for s in LISTED_SUBSTANCES if s in journey.substances]


def abstinent(substances: list[str], alcohol_max_days: int) -> Condition:
    """1.1: 0 days' use of each listed substance (alcohol up to ``alcohol_max_days``)."""
    def condition(top: TopRecorded) -> bool:
        for substance in substances:
            days = top.days_used.get(substance)
            limit = alcohol_max_days if substance == "alcohol" else 0
            if days is None or days > limit:
                return False
        return True
    return condition


def in_structured_treatment(history: History, journey: Journey, day: date) -> bool:
    """1.1: in structured treatment on ``day``: this journey open, or transferred to one that is.

    Decision 2: a journey discharged on ``day`` itself is not open on it.
    """
    current: Journey | None = journey
    while current is not None and current.started_on <= day:
        if current.discharged_on is None or current.discharged_on > day:
            return True
        if current.discharge_reason != "transferred":
            return False
        current = history.next_journey(current)
    return False


def _initial_after_pair(history: History, journey: Journey, ruleset: Ruleset, as_of: date,
                        pair: Finding) -> Finding:
    """1.1: "still in structured treatment at the end of the specified payment period" Q.

    Achieved at Q if the client is in structured treatment then, or the journey ended in a
    successful completion by Q (decision 1); failed if it ended otherwise on or before Q.
    """
    assert pair.evidence_on is not None
    period_ends_on = period_end(pair.evidence_on, ruleset.payment_period)
    text = f"{pair.explanation}; the payment period ends {period_ends_on}"
    ended = journey.discharged_on
    ended_by_then = ended is not None and ended <= period_ends_on
    completed = ended_by_then and is_successful_completion(journey)
    if ended_by_then and not completed and journey.discharge_reason != "transferred":
        return Finding(Status.FAILED, ended, "left_treatment_before_period_end",
                       f"{text}, but the journey ended ({journey.discharge_reason}) on {ended}",
                       (*pair.citations, _end_cite(journey)))
    if period_ends_on > as_of:
        return _pending("awaiting_period_end", f"{text}: achieved then if the client is still "
                        "in structured treatment or has completed successfully", *pair.citations)
    if completed:
        verdict = f"the journey ended in a successful completion on {ended}"
    elif in_structured_treatment(history, journey, period_ends_on):
        verdict = "the client was still in structured treatment then" + (
            " (after a transfer)" if journey.discharge_reason == "transferred" else "")
    else:
        return Finding(Status.FAILED, ended, "left_treatment_before_period_end",
                       f"{text}; the client was not in structured treatment then",
                       pair.citations)
    return Finding(Status.ACHIEVED, period_ends_on, "in_treatment_at_period_end",
                   f"{text}; {verdict}", pair.citations)


def drug_free_initial(history: History, journey: Journey, ruleset: Ruleset,
                      as_of: date) -> Finding:
    """1.1 drug_free_initial: free from the listed presenting substances at two reviews, and
    still in structured treatment (or successfully completed) at the end of r2's period."""
    params = ruleset.outcomes.drug_free_initial
    assert params is not None
    substances = measured_substances(journey)
    if not substances:
        return Finding(Status.INELIGIBLE, None, "not_eligible_substances",
                       "the journey presented with none of the substances 1.1 measures",
                       (_start_cite(journey),))
    what = "0 days of " + " and ".join(substances)
    if "alcohol" in substances and params.alcohol_max_days:
        what += f" (alcohol at most {params.alcohol_max_days} days)"
    pair = _pair_outcome(journey, abstinent(substances, params.alcohol_max_days), ruleset, what)
    if pair.status is not Status.ACHIEVED:
        return pair
    return _initial_after_pair(history, journey, ruleset, as_of, pair)


def drug_reduction_initial(history: History, journey: Journey, ruleset: Ruleset,
                           as_of: date) -> Finding:
    """1.3 drug_reduction_initial: each listed substance at least ``reliable_change_days``
    below the start TOP at two reviews; otherwise as 1.1."""
    params = ruleset.outcomes.drug_reduction_initial
    assert params is not None
    substances = measured_substances(journey)
    baseline = start_top(journey)
    if not substances:
        return Finding(Status.INELIGIBLE, None, "not_eligible_substances",
                       "the journey presented with none of the substances 1.3 measures")
    if baseline is None or any(baseline.days_used.get(s) is None for s in substances):
        return Finding(Status.INELIGIBLE, None, "no_start_top",
                       "no start TOP records the days' use each measured substance needs")
    limits = {s: baseline.days_used[s] - params.reliable_change_days for s in substances}

    def reduced(top: TopRecorded) -> bool:
        return all(top.days_used.get(s) is not None and top.days_used[s] <= limits[s]
                   for s in substances)

    what = ("days' use at least " f"{params.reliable_change_days} below the start TOP's "
            f"({', '.join(f'{s} {baseline.days_used[s]}' for s in substances)})")
    pair = _pair_outcome(journey, reduced, ruleset, what)
    if pair.status is not Status.ACHIEVED:
        return pair
    return _initial_after_pair(history, journey, ruleset, as_of, pair)


def planned_discharge_initial(history: History, journey: Journey, ruleset: Ruleset,
                              as_of: date) -> Finding:
    """1.4 planned_discharge_initial: a successful completion of a journey started at least 21
    days after the client's previous discharge (RULES.md §2: the latest discharge dated on or
    before the journey's start, decision 17)."""
    previous = history.previous_discharge(journey)
    if previous is not None and previous.discharged_on is not None and \
            journey.started_on < previous.discharged_on + timedelta(days=21):
        return Finding(Status.INELIGIBLE, None, "started_within_21_days",
                       f"the journey started {journey.started_on}, less than 21 days after the "
                       f"previous discharge on {previous.discharged_on}", (_start_cite(journey),))
    if journey.discharge is None:
        return _pending("journey_open", "the journey is open", _start_cite(journey))
    if is_successful_completion(journey):
        return Finding(Status.ACHIEVED, journey.discharged_on, "successful_completion",
                       f"the journey ended in a successful completion "
                       f"({journey.discharge_reason}) on {journey.discharged_on}",
                       (_start_cite(journey), _end_cite(journey)))
    return _ended_without(journey, "a successful completion", "no_successful_completion")


# 1.2 -------------------------------------------------------------------------------------


def _representations(history: History, journey: Journey, discharged_on: date,
                     ) -> list[Citation]:
    """RULES.md §2: a new treatment start or a DIP/prison caseload entry on or after D."""
    found = [Citation(j.start.source_id, j.started_on, "re-presented: treatment started")
             for j in history.journeys if j is not journey and j.started_on >= discharged_on]
    found += [Citation(e.source_id, e.on, f"re-presented: {e.caseload} caseload entered")
              for e in history.caseload_entries if e.on >= discharged_on]
    return sorted(found, key=lambda c: (c.on, c.source_id))


def drug_free_final(history: History, journey: Journey, ruleset: Ruleset,
                    as_of: date) -> Finding:
    """1.2 drug_free_final: after a successful completion on D, no re-presentation in
    ``[D, D + window)``; paid at the window's end, or in instalments at ``D + m_k``."""
    params = ruleset.outcomes.drug_free_final
    assert params is not None
    if journey.discharge is None:
        return _pending("journey_open", "the journey is open: 1.2 needs a successful completion",
                        _start_cite(journey))
    if not is_successful_completion(journey):
        return Finding(Status.INELIGIBLE, None, "no_successful_completion",
                       f"the journey ended {journey.discharge_reason} on "
                       f"{journey.discharged_on}, not in a successful completion",
                       (_end_cite(journey),))
    completed = journey.discharged_on
    assert completed is not None
    ends = params.window.after(completed)
    window = f"{completed} to {ends - timedelta(days=1)}"
    failures = [c for c in _representations(history, journey, completed) if c.on < ends]
    failure = failures[0] if failures else None
    offsets = params.instalments or (params.window,)
    instalments = tuple(_final_instalment(n, offset.after(completed), failure, as_of)
                        for n, offset in enumerate(offsets, start=1))
    cites = (_end_cite(journey),) + ((failure,) if failure else ())
    if failure is not None:
        finding = Finding(Status.FAILED, failure.on, "represented_in_window",
                          f"completed {completed}; {failure.what} on {failure.on} "
                          f"({failure.source_id}), inside the window {window}", cites)
    elif ends <= as_of:
        finding = Finding(Status.ACHIEVED, ends, "no_representation_in_window",
                          f"completed {completed}; no re-presentation in the window {window}",
                          cites)
    else:
        finding = _pending("window_running", f"completed {completed}; the window {window} is "
                           "still running with no re-presentation so far", *cites)
    return Finding(finding.status, finding.evidence_on, finding.reason, finding.explanation,
                   finding.citations, instalments if params.instalments else ())


def _final_instalment(n: int, reached: date, failure: Citation | None,
                      as_of: date) -> InstalmentFinding:
    """1.2 instalment k: earned at ``D + m_k`` unless a failure is dated before it."""
    if failure is not None and failure.on < reached:
        return InstalmentFinding(n, Status.FAILED, failure.on, "represented_in_window",
                                 f"{failure.what} on {failure.on}, before {reached}")
    if reached <= as_of:
        return InstalmentFinding(n, Status.ACHIEVED, reached, "no_representation_in_window",
                                 f"no re-presentation before {reached}")
    return InstalmentFinding(n, Status.PENDING, None, "window_running",
                             f"earned on {reached} if no re-presentation comes before it")


# 2.1 / 2.2 -------------------------------------------------------------------------------


def employment_final(history: History, journey: Journey, ruleset: Ruleset,
                     as_of: date) -> Finding:
    """2.1 employment_final: a spell off out-of-work benefits, begun during the journey,
    lasting ``sustain`` with no ``benefits_started`` in it (decision 6)."""
    params = ruleset.outcomes.employment_final
    assert params is not None
    last_day = journey.discharged_on or as_of
    spells = sorted((e for e in history.benefits_ended
                     if journey.started_on <= e.on <= last_day), key=lambda e: (e.on, e.source_id))
    for spell in spells:
        sustained = params.sustain.after(spell.on)
        broken = [b for b in history.benefits_started if spell.on <= b.on < sustained]
        cite = Citation(spell.source_id, spell.on, "off out-of-work benefits")
        if broken:
            continue
        if sustained <= as_of:
            return Finding(Status.ACHIEVED, sustained, "spell_sustained",
                           f"off out-of-work benefits from {spell.on}, with no claim before "
                           f"{sustained}", (cite,))
        return _pending("spell_running", f"off out-of-work benefits since {spell.on}; "
                        f"achieved on {sustained} if no new claim comes first", cite)
    if journey.discharge is not None:
        return _ended_without(journey, f"a spell off benefits of {params.sustain}",
                              "no_sustained_spell")
    return _pending("no_spell_yet", "no sustained spell off out-of-work benefits yet",
                    _start_cite(journey))


def employment_initial(history: History, journey: Journey, ruleset: Ruleset,
                       as_of: date) -> Finding:
    """2.2 employment_initial: discharged completed drug free, not on substitute medication at
    exit, and an exit TOP (if any) recording no alcohol use."""
    if journey.discharge is None:
        return _pending("journey_open", "the journey is open", _start_cite(journey))
    discharge = journey.discharge
    exits = journey.tops_at("exit")
    drinking = [top for top in exits if top.days_used.get("alcohol") != 0]
    reasons = []
    if journey.discharge_reason != "completed_drug_free":
        reasons.append(f"the discharge reason is {journey.discharge_reason}")
    elif getattr(discharge, "on_substitute_medication", False):
        reasons.append("the client was on substitute medication at exit")
    if drinking:
        reasons.append(f"the exit TOP of {drinking[0].on} does not record 0 days of alcohol")
    if reasons:
        return Finding(Status.FAILED, journey.discharged_on, "exit_conditions_not_met",
                       "; ".join(reasons), (_end_cite(journey),))
    return Finding(Status.ACHIEVED, journey.discharged_on, "drug_free_exit",
                   f"completed drug free on {journey.discharged_on}, off substitute "
                   "medication" + (", exit TOP records no alcohol" if exits else ""),
                   (_end_cite(journey), *(_top_cite(t, "no alcohol") for t in exits)))


# 4.1 - 4.4 -------------------------------------------------------------------------------


def injecting(history: History, journey: Journey, ruleset: Ruleset, as_of: date) -> Finding:
    """4.1 injecting: injecting at the start; 0 injecting days at a qualifying review pair."""
    baseline = start_top(journey)
    injecting_at_start = journey.start.injecting or (
        baseline is not None and (baseline.injecting_days or 0) > 0)
    if not injecting_at_start:
        return Finding(Status.INELIGIBLE, None, "not_injecting_at_start",
                       "the client was not injecting at the start", (_start_cite(journey),))
    return _pair_outcome(journey, lambda top: top.injecting_days == 0, ruleset,
                         "0 injecting days")


def housing(history: History, journey: Journey, ruleset: Ruleset, as_of: date) -> Finding:
    """4.2 housing: NFA or a housing problem at the start (one outcome); achieved at the first
    review or exit TOP answering no to both housing questions."""
    baseline = start_top(journey)
    problem = journey.start.housing in ("nfa", "problem") or (
        baseline is not None and (baseline.acute_housing_problem is True
                                  or baseline.at_risk_of_eviction is True))
    if not problem:
        return Finding(Status.INELIGIBLE, None, "no_housing_problem_at_start",
                       "no fixed abode or housing problem at the start", (_start_cite(journey),))
    later = sorted((t for t in journey.tops if t.stage in ("review", "exit")),
                   key=lambda t: (t.on, t.source_id))
    for top in later:
        if top.acute_housing_problem is False and top.at_risk_of_eviction is False:
            return Finding(Status.ACHIEVED, top.on, "housing_resolved",
                           f"the {top.stage} TOP of {top.on} records no acute housing problem "
                           "and no risk of eviction",
                           (_start_cite(journey), _top_cite(top, "housing resolved")))
    if journey.discharge is not None:
        return _ended_without(journey, "a TOP recording the housing problem resolved",
                              "ended_without_housing_resolved")
    return _pending("housing_not_yet_resolved", "no review yet records the housing problem "
                    "resolved", _start_cite(journey))


def hepatitis_b(history: History, journey: Journey, ruleset: Ruleset, as_of: date) -> Finding:
    """4.3 hepatitis_b: a hepatitis B course completed from the journey start to its discharge."""
    if not journey.start.hepb_vaccination_needed:
        return Finding(Status.INELIGIBLE, None, "vaccination_not_needed",
                       "the journey did not record a hepatitis B vaccination need",
                       (_start_cite(journey),))
    last_day = journey.discharged_on or as_of
    courses = sorted((c for c in history.hepb_courses if journey.started_on <= c.on <= last_day),
                     key=lambda c: (c.on, c.source_id))
    if courses:
        course = courses[0]
        return Finding(Status.ACHIEVED, course.on, "course_completed",
                       f"hepatitis B course completed on {course.on}",
                       (_start_cite(journey), Citation(course.source_id, course.on,
                                                       "hepatitis B course completed")))
    if journey.discharge is not None:
        return _ended_without(journey, "a completed hepatitis B course", "ended_without_course")
    return _pending("course_not_completed", "no completed hepatitis B course yet",
                    _start_cite(journey))


def wellbeing(history: History, journey: Journey, ruleset: Ruleset, as_of: date) -> Finding:
    """4.4 wellbeing: all three scores at or above the norm (or each ``min_improvement`` above
    the start TOP's) at a qualifying review pair."""
    params = ruleset.outcomes.wellbeing
    assert params is not None
    baseline = start_top(journey)
    if baseline is None or any(getattr(baseline, s) is None for s in SCORES):
        return Finding(Status.INELIGIBLE, None, "no_start_scores",
                       "no start TOP with all three wellbeing scores", (_start_cite(journey),))
    if params.mode == "norm":
        assert params.norm is not None
        targets = {s: getattr(params.norm, s) for s in SCORES}
        if all(getattr(baseline, s) >= targets[s] for s in SCORES):
            return Finding(Status.INELIGIBLE, None, "at_norm_at_start",
                           "all three scores were already at the norm at the start",
                           (_top_cite(baseline, "scores at the norm"),))
        what = "all three scores at or above the norm"
    else:
        targets = {s: getattr(baseline, s) + params.min_improvement for s in SCORES}
        what = f"all three scores at least {params.min_improvement} above the start TOP's"

    def condition(top: TopRecorded) -> bool:
        return all(getattr(top, s) is not None and getattr(top, s) >= targets[s]
                   for s in SCORES)

    return _pair_outcome(journey, condition, ruleset, what)


RULES = {
    "drug_free_initial": drug_free_initial,
    "drug_reduction_initial": drug_reduction_initial,
    "planned_discharge_initial": planned_discharge_initial,
    "drug_free_final": drug_free_final,
    "employment_final": employment_final,
    "employment_initial": employment_initial,
    "injecting": injecting,
    "housing": housing,
    "hepatitis_b": hepatitis_b,
    "wellbeing": wellbeing,
}
