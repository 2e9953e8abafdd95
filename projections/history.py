"""Build a client's :class:`~projections.model.History` as known on K and as of E.

RULES.md §2 (facts, journeys, retractions) and §5 (``known_on``): only records received on or
before K exist; a ``correction`` received on or before K removes the record it names from every
derivation; facts dated after E are not yet facts as of E.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from ledger.events import (
    BenefitsEnded,
    BenefitsStarted,
    CjsCaseloadEntered,
    ClientHistory,
    Correction,
    Died,
    Discharged,
    HepbCourseCompleted,
    ProvenOffence,
    RecordEvent,
    ReleasedFromCustody,
    TopRecorded,
    TreatmentStarted,
)
from projections.model import History, Journey


def known_records(events: Iterable[RecordEvent], known_on: date) -> tuple[list[RecordEvent],
                                                                          list[RecordEvent]]:
    """The records received on or before K, less those retracted by then; and the retracted."""
    received = [event for event in events if event.received_on <= known_on]
    retracted_ids = {event.retracts for event in received if isinstance(event, Correction)}
    kept = [e for e in received
            if e.source_id not in retracted_ids and not isinstance(e, Correction)]
    retracted = [e for e in received if e.source_id in retracted_ids]
    return kept, retracted


def _own_date(event: RecordEvent) -> date:
    if isinstance(event, ProvenOffence):
        return event.disposal_on  # proven as of E when its disposal date is on or before E
    if isinstance(event, ClientHistory.Registered):
        return event.received_on
    return event.on  # type: ignore[attr-defined]


def _order(event: RecordEvent) -> tuple[date, str]:
    return (_own_date(event), event.source_id)


def build_history(events: Iterable[RecordEvent], known_on: date, as_of: date) -> History | None:
    """One client's history; ``None`` when the client's registration is not known on K."""
    kept, retracted = known_records(events, known_on)
    registrations = [e for e in kept if isinstance(e, ClientHistory.Registered)]
    if not registrations:
        return None
    registration = min(registrations, key=lambda e: (e.received_on, e.source_id))
    dated = sorted(((key, e) for e in kept if not isinstance(e, ClientHistory.Registered)
                    and (key := _order(e))[0] <= as_of), key=lambda pair: pair[0])
    by_type: dict[type, list[RecordEvent]] = {}
    for _, event in dated:  # each kind of fact once, in date order
        by_type.setdefault(type(event), []).append(event)

    def of(kind: type) -> tuple:
        found = [events for cls, events in by_type.items() if issubclass(cls, kind)]
        if len(found) == 1:
            return tuple(found[0])
        return tuple(sorted((e for events in found for e in events), key=_order))

    died = next(iter(of(Died)), None)
    journeys = _journeys(registration, of(TreatmentStarted), of(Discharged), of(TopRecorded), died)
    return History(
        client=registration.client,
        site=registration.site,
        date_of_birth=registration.date_of_birth,
        registration=registration,
        as_of=as_of,
        known_on=known_on,
        journeys=journeys,
        offences=of(ProvenOffence),
        releases=of(ReleasedFromCustody),
        caseload_entries=of(CjsCaseloadEntered),
        hepb_courses=of(HepbCourseCompleted),
        benefits_ended=of(BenefitsEnded),
        benefits_started=of(BenefitsStarted),
        died=died,
        retracted=tuple(sorted(retracted, key=lambda e: e.source_id)),
    )


def _journeys(registration: ClientHistory.Registered, starts: tuple[TreatmentStarted, ...],
              discharges: tuple[Discharged, ...], tops: tuple[TopRecorded, ...],
              died: Died | None) -> tuple[Journey, ...]:
    """Each journey with its discharge (or the death that closed it) and its own TOPs."""
    first_start: dict[str, TreatmentStarted] = {}
    for start in starts:
        first_start.setdefault(start.journey, start)
    first_discharge: dict[str, Discharged] = {}
    for discharge in discharges:
        first_discharge.setdefault(discharge.journey, discharge)
    journeys = []
    for start in sorted(first_start.values(), key=lambda s: (s.on, s.journey)):
        end: Discharged | Died | None = first_discharge.get(start.journey)
        if end is not None and end.on < start.on:
            end = None  # a discharge dated before its start cannot end it (import refuses it)
        if died is not None and died.on >= start.on and (end is None or died.on < end.on):
            # RULES.md §2: a death closes the open journey on its date; when a discharge is not
            # yet known on K, every journey still open then (decision 17).
            end = died
        last_day = end.on if end is not None else None
        own_tops = tuple(top for top in tops if top.journey == start.journey
                         and start.on <= top.on and (last_day is None or top.on <= last_day))
        journeys.append(Journey(
            journey=start.journey, client=registration.client, site=registration.site,
            provider=start.provider, started_on=start.on, start=start, tops=own_tops,
            discharge=end,
        ))
    return tuple(journeys)
