"""3.1 ``offending_initial`` and 3.2 ``offending_final``, individual measure (RULES.md §2, §4).

An offence counts when its disposal is one of the draft's (footnote 3); it is proven as of E when
its disposal date is on or before E; whether it falls in a window is decided by its offence date.
The offending clock (3.2, and 3.1 with ``clock_reset = true``) restarts on the restart date of an
offence dated in ``[C, C + W)``; every start is kept, with the offence behind it, for ``pbr clock``.
Decisions are numbered as in ``docs/rules/offending.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from ledger.durations import Duration
from ledger.events import ProvenOffence, ReleasedFromCustody
from ledger.rulesets import Offending, OffendingInitial
from projections.model import Citation, Finding, History, InstalmentFinding, Journey, Status
from projections.values import quick_init

# RULES.md §2 (draft, footnote 3): the disposals that make a proven offence; PND and cannabis
# warnings are recorded but never count.
ONE_DAY = timedelta(days=1)
COUNTING_DISPOSALS = frozenset({
    "caution", "reprimand", "warning", "custody", "suspended_sentence", "community_sentence",
    "fine", "discharge",
})


@quick_init
@dataclass(frozen=True)
class ClockStart:
    """One start of an offending clock: the journey start, a reset or a push (bail offence).

    ``on`` is the start date (for a reset or push, the offence's restart date); it is ``None``
    while a custodial restart date is unknown (in custody). ``superseded_on`` is the day the
    next reset became known (the disposal date of the offence behind it): the clock ran from
    ``on`` until then.
    """

    on: date | None
    cause: str  # "journey_start", "reset" or "push"
    offence: str | None = None
    offence_on: date | None = None
    disposal: str | None = None
    disposal_on: date | None = None
    release: str | None = None
    released_on: date | None = None
    superseded_on: date | None = None


@quick_init
@dataclass(frozen=True)
class Clock:
    """The offending clock of one journey as of E (RULES.md 3.2; 3.1 with ``clock_reset``).

    ``starts`` holds every start in order, the first being the journey start; the last has
    ``on = None`` while in custody. ``current_start`` is the running clock's start and
    ``target_on = current_start + window`` (both ``None`` while in custody; ``target_on`` is
    ``None`` once the outcome failed). ``limit_on`` is ``discharge + reset_limit`` (``None``
    while the journey is open as of E).
    """

    outcome: str
    journey: str
    window: Duration
    starts: tuple[ClockStart, ...]
    current_start: date | None
    target_on: date | None
    status: Status
    reason: str
    explanation: str
    limit_on: date | None = None
    evidence_on: date | None = None
    citations: tuple[Citation, ...] = ()
    instalments: tuple[InstalmentFinding, ...] = ()


def counting_offences(history: History, params: Offending) -> list[ProvenOffence]:
    """3.1/3.2 offending (RULES.md §2): the client's proven offences that count, by offence date.

    Only disposals of the draft's list count; with ``trigger_offences_only`` (the response's
    alternative) only offences flagged ``trigger_offence``.
    """
    if not history.offences:
        return []
    kept = [o for o in history.offences if o.disposal in COUNTING_DISPOSALS
            and o.disposal_on <= history.as_of
            and (o.trigger_offence or not params.trigger_offences_only)]
    return sorted(kept, key=_offence_key)


def _offence_key(offence: ProvenOffence) -> tuple[date, date, str]:
    return (offence.offence_on, offence.disposal_on, offence.source_id)


def journey_offences(history: History, journey: Journey, params: Offending,
                     as_of: date) -> list[ProvenOffence]:
    """3.1/3.2 offending: the counting offences of one journey, proven as of E.

    Decision 1 (RULES.md §2): an offence dated before the journey's start never counts for it,
    even when it is disposed of during the journey.
    """
    if not history.offences:
        return []
    return [o for o in counting_offences(history, params)
            if o.offence_on >= journey.started_on and o.disposal_on <= as_of]


def restart_date(offence: ProvenOffence, releases: tuple[ReleasedFromCustody, ...],
                 as_of: date) -> tuple[date | None, ReleasedFromCustody | None]:
    """3.2 offending_final: the restart date of an offence (draft, footnote 8).

    For ``custody`` the first ``released_from_custody`` on or after the disposal date
    (``None`` while none is known as of E); otherwise the disposal date.
    """
    if offence.disposal != "custody":
        return offence.disposal_on, None
    later = [r for r in releases if offence.disposal_on <= r.on <= as_of]
    release = min(later, key=lambda r: (r.on, r.source_id), default=None)
    return (None, None) if release is None else (release.on, release)


def _start_of(offence: ProvenOffence, cause: str, releases: tuple[ReleasedFromCustody, ...],
              as_of: date) -> ClockStart:
    on, release = restart_date(offence, releases, as_of)
    return ClockStart(
        on=on, cause=cause, offence=offence.source_id, offence_on=offence.offence_on,
        disposal=offence.disposal, disposal_on=offence.disposal_on,
        release=None if release is None else release.source_id,
        released_on=None if release is None else release.on)


def _reset_group(offences: list[ProvenOffence], trigger: ProvenOffence,
                 releases: tuple[ReleasedFromCustody, ...], as_of: date,
                 used: set[str | None]) -> list[ClockStart]:
    """3.2 offending_final: a reset and the pushes that follow it (offences on bail).

    Any other proven offence dated from the trigger's date up to the new start whose restart
    date is later pushes the start; pushes are taken in restart-date order (unknown last), so
    each start that was ever current is kept. Stops at the first unknown restart (in custody).
    """
    # Decision 5 (RULES.md 3.2): "up to the new start" means dated before it; one dated on the
    # new start falls in the new window and resets the clock in its own right (same result).
    group = [_start_of(trigger, "reset", releases, as_of)]
    used = used | {trigger.source_id}
    while group[-1].on is not None:
        new_start = group[-1].on
        pushing = [(_start_of(o, "push", releases, as_of), o) for o in offences
                   if o.source_id not in used and trigger.offence_on <= o.offence_on < new_start]
        pushing = [(s, o) for s, o in pushing if s.on is None or s.on > new_start]
        if not pushing:
            break
        start, offence = min(pushing, key=lambda p: (p[0].on or date.max,) + _offence_key(p[1]))
        used.add(offence.source_id)
        group.append(start)
    return group


def _limit_on(journey: Journey, params: Offending, as_of: date) -> date | None:
    """3.2 offending_final: ``discharge + reset_limit``; none while the journey is open as of E."""
    discharged_on = journey.discharged_on
    if discharged_on is None or discharged_on > as_of:
        return None
    return params.reset_limit.after(discharged_on)


def _window_text(start: date, window: Duration) -> str:
    return f"{start} to {window.after(start) - ONE_DAY}"


def _offence_text(offence: ProvenOffence | ClockStart) -> str:
    source = offence.source_id if isinstance(offence, ProvenOffence) else offence.offence
    return (f"offence dated {offence.offence_on} ({offence.disposal} disposed "
            f"{offence.disposal_on}, record {source})")


def _outcome_name(params: Offending) -> str:
    return "offending_initial" if isinstance(params, OffendingInitial) else "offending_final"


def offending_clock(history: History, journey: Journey, params: Offending,
                    as_of: date) -> Clock:
    """The offending clock of ``journey`` under ``params`` as of ``as_of`` (see
    :func:`_offending_clock`), worked out once per history (a clock is immutable)."""
    key = (journey.journey, id(params), as_of)
    found = history.clocks.get(key)
    if found is not None and found[0] is params and found[1] is journey:
        return found[2]
    clock = _offending_clock(history, journey, params, as_of)
    history.clocks[key] = (params, journey, clock)  # holding params keeps its id unique
    return clock


def _offending_clock(history: History, journey: Journey, params: Offending,
                     as_of: date) -> Clock:
    """3.2 offending_final (and 3.1 offending_initial with ``clock_reset``): the offending clock.

    The window ``W`` runs from the clock start C, initially the journey start. An offence dated in
    ``[C, C + W)`` restarts it on its restart date (pushed by offences on bail); an unknown
    custodial restart date leaves it pending ("in custody"); a start later than ``discharge +
    reset_limit`` fails it. Without ``clock_reset`` (3.1) the first offence in the window fails it.
    """
    offences = journey_offences(history, journey, params, as_of)
    releases = tuple(r for r in history.releases if r.on <= as_of) if history.releases else ()
    limit_on = _limit_on(journey, params, as_of)
    starts = [ClockStart(on=journey.started_on, cause="journey_start",
                         offence=journey.start.source_id)]
    base = _Base(_outcome_name(params), journey.journey, params.window, limit_on)
    if not offences:  # most journeys: the clock runs from the journey start, untouched
        return _running(base, starts, as_of)
    while True:
        current = starts[-1].on
        assert current is not None
        # Decision 4 (RULES.md 3.2): an offence that already reset the clock never resets it
        # again (one disposed on the day it was committed restarts the clock on its own date).
        used = {s.offence for s in starts}
        in_window = [o for o in offences if o.source_id not in used
                     and current <= o.offence_on < params.window.after(current)]
        if not in_window:
            return _running(base, starts, as_of)
        trigger = min(in_window, key=lambda o: (o.offence_on, o.disposal_on, o.source_id))
        if not params.clock_reset:
            return _failed_in_window(base, starts, in_window)
        group = _reset_group(offences, trigger, releases, as_of, used)
        for start in group:
            starts[-1] = replace(starts[-1], superseded_on=start.disposal_on)
            starts.append(start)
            if start.on is None:
                return _in_custody(base, starts)
            if limit_on is not None and start.on > limit_on:
                return _beyond_limit(base, starts)


@dataclass(frozen=True, slots=True)
class _Base:
    """What every :class:`Clock` of one journey and outcome shares, whatever its status."""

    outcome: str
    journey: str
    window: Duration
    limit_on: date | None

    def clock(self, starts: list[ClockStart], status: Status, reason: str, explanation: str,
              current_start: date | None = None, target_on: date | None = None,
              evidence_on: date | None = None, citations: tuple[Citation, ...] = ()) -> Clock:
        return Clock(self.outcome, self.journey, self.window, tuple(starts), current_start,
                     target_on, status, reason, explanation, self.limit_on, evidence_on,
                     citations)


def _running(base: _Base, starts: list[ClockStart], as_of: date) -> Clock:
    """3.2 offending_final: no offence in the current window: achieved once it has run out."""
    current = starts[-1].on
    assert current is not None
    target_on = base.window.after(current)
    resets = len(starts) - 1
    after = f" (restarted {resets} time(s))" if resets else ""
    window = _window_text(current, base.window)
    if target_on <= as_of:
        status, reason, evidence_on = Status.ACHIEVED, "no_offence_in_window", target_on
        text = f"no proven offence dated in the window {window}{after}; achieved on {target_on}"
    else:
        status, reason, evidence_on = Status.PENDING, "window_running", None
        text = (f"the window {window}{after} is still running: no proven offence dated in it "
                f"so far; achieved on {target_on} if none is")
    return base.clock(starts, status, reason, text, current, target_on, evidence_on)


def _failed_in_window(base: _Base, starts: list[ClockStart],
                      in_window: list[ProvenOffence]) -> Clock:
    """3.1 offending_initial: failed at the first proven offence dated in the window.

    Decision 3 (RULES.md §4 3.1): "the first" is the offence proven first (earliest disposal
    date), and the outcome fails on that disposal date, the day the failing fact is established.
    """
    first = min(in_window, key=lambda o: (o.disposal_on, o.offence_on, o.source_id))
    current = starts[0].on
    assert current is not None
    text = (f"{_offence_text(first)} falls inside the window "
            f"{_window_text(current, base.window)}")
    return base.clock(starts, Status.FAILED, "offence_in_window", text, current,
                      evidence_on=first.disposal_on,
                      citations=(Citation(first.source_id, first.offence_on,
                                          f"proven offence ({first.disposal})"),))


def _in_custody(base: _Base, starts: list[ClockStart]) -> Clock:
    """3.2 offending_final: pending while a custodial restart date is unknown.

    Decision 6 (RULES.md 3.2): it stays pending even once E is past the reset limit, as the rule
    says; the explanation warns that a later release would be beyond the limit.
    """
    waiting = starts[-1]
    limit = "" if base.limit_on is None else (
        f"; a release after {base.limit_on} would be beyond the reset limit")
    text = (f"in custody: {_offence_text(waiting)} restarts the clock on release from "
            f"custody, and no release on or after {waiting.disposal_on} is recorded yet{limit}")
    return base.clock(starts, Status.PENDING, "in_custody", text)


def _beyond_limit(base: _Base, starts: list[ClockStart]) -> Clock:
    """3.2 offending_final: a reset later than ``discharge + reset_limit`` fails the outcome."""
    last = starts[-1]
    text = (f"{_offence_text(last)} restarts the clock on {last.on}, later than the reset "
            f"limit {base.limit_on} (discharge + reset limit)")
    return base.clock(starts, Status.FAILED, "reset_beyond_limit", text, last.on,
                      evidence_on=last.on)


def clock_citations(clock: Clock) -> tuple[Citation, ...]:
    """3.2 offending_final: the records the clock rests on (journey start, offences, releases)."""
    first = clock.starts[0] if len(clock.starts) == 1 and not clock.citations else None
    if first is not None and first.cause == "journey_start" and first.offence and first.on \
            and not first.release:  # the clock never restarted: only its journey start
        return (Citation(first.offence, first.on, "treatment started: clock start"),)
    cited: list[Citation] = []
    for start in clock.starts:
        if start.cause == "journey_start" and start.offence and start.on:
            cited.append(Citation(start.offence, start.on, "treatment started: clock start"))
        elif start.offence and start.offence_on:
            cited.append(Citation(start.offence, start.offence_on,
                                  f"proven offence ({start.disposal}): clock {start.cause}"))
        if start.release and start.released_on:
            cited.append(Citation(start.release, start.released_on, "released from custody"))
    return tuple(dict.fromkeys(cited + list(clock.citations)))


def clock_instalments(clock: Clock, offences: list[ProvenOffence], params: Offending,
                      as_of: date) -> tuple[InstalmentFinding, ...]:
    """3.2 offending_final instalments, counted on the current clock.

    Instalment k is earned on a clock start C when the clock reached ``C + m_k`` (on or before
    the day it was superseded, or E for the running clock) with no proven offence dated in
    ``[C, C + m_k)``; one earned on an earlier clock stays earned (the earliest start that earns
    it gives its ``evidence_on``). Unearned instalments fail with the outcome, else are pending.
    """
    found = []
    for n, offset in enumerate(params.instalments, start=1):
        earned = _earned_on(clock, offences, offset, as_of)
        if earned is not None:
            found.append(InstalmentFinding(n, Status.ACHIEVED, earned, "no_offence_in_window",
                                           f"no proven offence dated from the clock start "
                                           f"{offset.before(earned)} to before {earned}"))
        elif clock.status is Status.FAILED:
            found.append(InstalmentFinding(n, Status.FAILED, clock.evidence_on, clock.reason,
                                           clock.explanation))
        else:
            found.append(InstalmentFinding(n, Status.PENDING, None, clock.reason,
                                           clock.explanation))
    return tuple(found)


def _earned_on(clock: Clock, offences: list[ProvenOffence], offset: Duration,
               as_of: date) -> date | None:
    used: set[str | None] = set()
    # A failed clock earns nothing after the day it failed (RULES.md 3.2 "as for 1.2": only
    # instalments already earned stay earned): a start beyond the reset limit never runs.
    failed_on = clock.evidence_on if clock.status is Status.FAILED else None
    for start in clock.starts:
        used.add(start.offence)
        if start.on is None:
            continue
        reached = offset.after(start.on)
        # Decision 12 (RULES.md 3.2): a clock reached C + m_k if it got there on or before the
        # day the offence that superseded it was proven (its disposal date).
        until = as_of if start.superseded_on is None else min(start.superseded_on, as_of)
        if failed_on is not None:
            until = min(until, failed_on)
        clean = not any(start.on <= o.offence_on < reached and o.source_id not in used
                        for o in offences)
        if clean and reached <= until:
            return reached
    return None


def _finding(history: History, journey: Journey, params: Offending, as_of: date) -> Finding:
    """3.1/3.2 offending: the clock as a finding, with its instalments and citations."""
    if params.measure == "cohort":
        return Finding(Status.INELIGIBLE, None, "cohort_measure",
                       "this outcome is paid on the cohort measure, not per journey")
    clock = offending_clock(history, journey, params, as_of)
    instalments: tuple[InstalmentFinding, ...] = ()
    if params.instalments:
        offences = journey_offences(history, journey, params, as_of)
        instalments = clock_instalments(clock, offences, params, as_of)
    return Finding(clock.status, clock.evidence_on, clock.reason, clock.explanation,
                   clock_citations(clock), instalments)


def offending_initial(history: History, journey: Journey, params: Offending,
                      as_of: date) -> Finding:
    """3.1 offending_initial: no proven offence dated in ``[S, S + 6m)`` from the journey start S.

    Achieved with ``evidence_on = S + window``; failed at the first counting offence dated in
    the window; with ``clock_reset = true`` the window restarts as for 3.2, with its own
    ``reset_limit``.
    """
    return _finding(history, journey, params, as_of)


def offending_final(history: History, journey: Journey, params: Offending,
                    as_of: date) -> Finding:
    """3.2 offending_final: no proven offence dated in ``[C, C + 12m)`` of the final clock start C.

    Decision 2 (RULES.md §4 3.2): ``clock_reset = false`` in a ruleset is honoured (a single
    window, as 3.1) rather than silently ignored; the default is to reset.
    """
    return _finding(history, journey, params, as_of)
