"""The shapes every derivation shares: a client's history and the results derived from it.

Data flows records -> events -> history -> findings -> outcomes -> entitlements -> payment lines.
A :class:`History` is one client's records as known on K and as of E, with retractions applied;
a rule reads it and returns a :class:`Finding`; the outcome engine turns findings into
:class:`OutcomeResult` values with amounts, payable dates and recovery-cycle allocation.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter

from ledger.events import (
    BenefitsEnded,
    BenefitsStarted,
    CjsCaseloadEntered,
    ClientHistory,
    Died,
    Discharged,
    HepbCourseCompleted,
    ProvenOffence,
    RecordEvent,
    ReleasedFromCustody,
    TopRecorded,
    TreatmentStarted,
)
from projections.values import once, quick_init

_DATE_ORDER = attrgetter("on", "source_id")  # date order, the source id breaking a tie


class Status(StrEnum):
    INELIGIBLE = "ineligible"
    PENDING = "pending"
    ACHIEVED = "achieved"
    FAILED = "failed"


@quick_init
@dataclass(frozen=True)
class Citation:
    """A record a result rests on: its ``source_id``, its own date and what it showed; and,
    once the ledger has looked it up for an explanation, when it was received."""

    source_id: str
    on: date
    what: str
    received_on: date | None = None


@quick_init
@dataclass(frozen=True)
class Journey:
    """A treatment journey (RULES.md §2) as known on K and as of E.

    ``discharged_on`` is set when a ``discharged`` record, or a ``died`` record closing the open
    journey, is dated on or before E; ``discharge_reason`` is then the discharge's reason, or
    ``died``. ``tops`` are the journey's own TOPs: dated from its start to its discharge, both
    included (and not after E), in date order.
    """

    journey: str
    client: str
    site: str
    provider: str
    started_on: date
    start: TreatmentStarted
    tops: tuple[TopRecorded, ...]
    discharge: Discharged | Died | None

    @once
    def substances(self) -> frozenset[str]:
        return frozenset(self.start.substances)

    @once
    def start_citation(self) -> Citation:
        """The journey's ``treatment_started`` record as the treatment outcomes cite it."""
        return Citation(self.start.source_id, self.started_on,
                        f"treatment started with {', '.join(sorted(self.substances))}")

    @once
    def end_citation(self) -> Citation | None:
        """The record that ended the journey (its discharge, or the death that closed it)."""
        if self.discharge is None:
            return None
        return Citation(self.discharge.source_id, self.discharge.on,
                        f"journey ended: {self.discharge_reason}")

    @once
    def lasars_band(self) -> int | None:
        return self.start.lasars_band

    @once
    def discharged_on(self) -> date | None:
        return None if self.discharge is None else self.discharge.on

    @once
    def discharge_reason(self) -> str | None:
        if self.discharge is None:
            return None
        return "died" if isinstance(self.discharge, Died) else self.discharge.reason

    def is_open_on(self, day: date) -> bool:
        """In treatment on ``day``: started on or before it, not discharged before it."""
        return self.started_on <= day and (self.discharged_on is None or day < self.discharged_on)

    def tops_at(self, stage: str) -> tuple[TopRecorded, ...]:
        """The journey's TOPs of one stage, in date order (source id breaks a tie)."""
        return self._by_stage.get(stage, ())

    @once
    def _by_stage(self) -> dict[str, tuple[TopRecorded, ...]]:
        """The journey's TOPs by stage, sorted once: every outcome asks for them."""
        stages: dict[str, list[TopRecorded]] = {}
        for top in sorted(self.tops, key=_DATE_ORDER):
            stages.setdefault(top.stage, []).append(top)
        return {stage: tuple(tops) for stage, tops in stages.items()}


@quick_init
@dataclass(frozen=True)
class History:
    """One client's facts, as known on ``known_on`` and as of ``as_of`` (RULES.md §2, §4, §5).

    Only records received on or before ``known_on`` exist; a retraction received by then removes
    the record it names. Facts dated after ``as_of`` are left out, so nothing achieves or fails
    an outcome as of E by a fact dated after E. A proven offence is in the history once its
    disposal date is on or before E (it is "proven as of E"). ``offences`` holds every disposal,
    counting or not; the rules decide which count.
    """

    client: str
    site: str
    date_of_birth: date
    registration: ClientHistory.Registered
    as_of: date
    known_on: date
    journeys: tuple[Journey, ...]
    offences: tuple[ProvenOffence, ...]
    releases: tuple[ReleasedFromCustody, ...]
    caseload_entries: tuple[CjsCaseloadEntered, ...]
    hepb_courses: tuple[HepbCourseCompleted, ...]
    benefits_ended: tuple[BenefitsEnded, ...]
    benefits_started: tuple[BenefitsStarted, ...]
    died: Died | None
    retracted: tuple[RecordEvent, ...] = ()
    # Offending clocks already worked out for this history (projections.offending): the outcome
    # and the projection's clock rows ask for the same clock; it is worked out once.
    clocks: dict = field(default_factory=dict, init=False, compare=False, hash=False,
                         repr=False)

    def age_on(self, day: date) -> int:
        """Whole years from the date of birth (RULES.md §1), counted with §1's month arithmetic:
        someone born on 29 February has a birthday on 28 February in other years (decision 16).
        """
        born = self.date_of_birth
        years = day.year - born.year
        birthday = (born.month, born.day if born.day <= 28  # every month has a 28th
                    else min(born.day, monthrange(day.year, born.month)[1]))
        return years - ((day.month, day.day) < birthday)

    def next_journey(self, journey: Journey) -> Journey | None:
        later = [j for j in self.journeys if j.started_on > journey.started_on
                 or (j.started_on == journey.started_on and j.journey > journey.journey)]
        return min(later, key=lambda j: (j.started_on, j.journey), default=None)

    def previous_journey(self, journey: Journey) -> Journey | None:
        earlier = [j for j in self.journeys if j.started_on < journey.started_on
                   or (j.started_on == journey.started_on and j.journey < journey.journey)]
        return max(earlier, key=lambda j: (j.started_on, j.journey), default=None)

    def previous_discharge(self, journey: Journey) -> Journey | None:
        """RULES.md §2 (journeys that overlap as known on K): see :func:`previous_discharge`."""
        return previous_discharge(self.journeys, journey)


def previous_discharge(journeys: Iterable[Journey], journey: Journey) -> Journey | None:
    """RULES.md §2, decision on journeys that overlap as known on K: the journey whose
    discharge is "the client's previous discharge" for ``journey`` (1.4, §3 cycles).

    It is the latest discharge dated on or before the journey's start, among the journeys
    before it; a discharge dated after the journey started is never its previous one (an
    earlier journey whose discharge was not yet received, or was dated later, is skipped).
    """
    key = (journey.started_on, journey.journey)
    ended = [j for j in journeys if (j.started_on, j.journey) < key
             and j.discharged_on is not None and j.discharged_on <= journey.started_on]
    return max(ended, key=lambda j: (j.discharged_on, j.started_on, j.journey), default=None)


@quick_init
@dataclass(frozen=True)
class InstalmentFinding:
    """One instalment of an outcome paid in instalments, as a rule finds it (before cycles)."""

    n: int
    status: Status
    evidence_on: date | None
    reason: str
    explanation: str


@quick_init
@dataclass(frozen=True)
class Finding:
    """What a rule finds for one journey: a status, its evidence date and why.

    ``reason`` is a stable code that tests assert (``offence_in_window``); ``explanation`` is
    the same in words a finance officer understands, with the decisive dates. ``instalments``
    is filled only for outcomes the ruleset pays in instalments.
    """

    status: Status
    evidence_on: date | None
    reason: str
    explanation: str
    citations: tuple[Citation, ...] = ()
    instalments: tuple[InstalmentFinding, ...] = ()


@quick_init
@dataclass(frozen=True)
class InstalmentResult:
    n: int
    status: Status
    evidence_on: date | None
    payable_on: date | None
    amount: Decimal | None
    reason: str
    explanation: str


@quick_init
@dataclass(frozen=True)
class OutcomeResult:
    """An outcome of a journey (or of a cohort) as of E, known on K: CONTRACT.md's JSON row."""

    client: str | None
    journey: str | None
    outcome: str
    option: str
    status: Status
    evidence_on: date | None
    payable_on: date | None
    amount: Decimal | None
    reason: str
    explanation: str
    ruleset: str
    provider: str | None
    site: str | None
    citations: tuple[Citation, ...] = ()
    instalments: tuple[InstalmentResult, ...] | None = None
    cohort: str | None = None
    cycle: int | None = None


@dataclass(frozen=True)
class Unruled:
    """A journey with no ruleset in force on its start date (RULES.md §6)."""

    client: str
    journey: str
    started_on: date


@dataclass(frozen=True)
class ClientOutcomes:
    client: str
    outcomes: tuple[OutcomeResult, ...]
    unruled: tuple[Unruled, ...] = field(default_factory=tuple)

