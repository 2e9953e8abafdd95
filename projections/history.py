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
    if not retracted_ids:  # most clients: nothing corrected
        return received, []
    kept = [e for e in received
            if e.source_id not in retracted_ids and not isinstance(e, Correction)]
    retracted = [e for e in received if e.source_id in retracted_ids]
    return kept, retracted


# The History field each kind of record goes to (a subclass goes with its class).
_KINDS: tuple[tuple[type, str], ...] = (
    (ClientHistory.Registered, "registrations"), (TreatmentStarted, "starts"),
    (Discharged, "discharges"), (TopRecorded, "tops"), (Died, "deaths"),
    (ProvenOffence, "offences"), (ReleasedFromCustody, "releases"),
    (CjsCaseloadEntered, "caseload_entries"), (HepbCourseCompleted, "hepb_courses"),
    (BenefitsEnded, "benefits_ended"), (BenefitsStarted, "benefits_started"),
)
_KIND_OF: dict[type, str | None] = {}
_NONE: dict[str, tuple] = {name: () for _, name in _KINDS}


def _kind(cls: type) -> str | None:
    """The History field a class of record goes to (``None``: not a fact of the history)."""
    if cls not in _KIND_OF:
        _KIND_OF[cls] = next((name for kind, name in _KINDS if issubclass(cls, kind)), None)
    return _KIND_OF[cls]


def build_history(events: Iterable[RecordEvent], known_on: date, as_of: date) -> History | None:
    """One client's history; ``None`` when the client's registration is not known on K.

    One pass over the records known on K puts each kind of fact in its own list; each list is
    then put in date order (source id breaks a tie), leaving out facts dated after E.
    """
    kept, retracted = known_records(events, known_on)
    facts: dict[str, list[tuple[tuple[date, str], RecordEvent]]] = {}
    for event in kept:
        kind = _kind(type(event))
        if kind is None:
            continue
        key = (event.received_on if kind == "registrations"
               else event.disposal_on if kind == "offences"  # proven as of E by its disposal
               else event.on, event.source_id)
        if kind == "registrations" or key[0] <= as_of:
            facts.setdefault(kind, []).append((key, event))
    if "registrations" not in facts:
        return None
    of = {**_NONE, **{name: tuple([e for _, e in sorted(pairs, key=_key)])
                      for name, pairs in facts.items()}}
    registration = of["registrations"][0]
    died = of["deaths"][0] if of["deaths"] else None
    journeys = _journeys(registration, of["starts"], of["discharges"], of["tops"], died)
    return History(
        client=registration.client,
        site=registration.site,
        date_of_birth=registration.date_of_birth,
        registration=registration,
        as_of=as_of,
        known_on=known_on,
        journeys=journeys,
        offences=of["offences"],
        releases=of["releases"],
        caseload_entries=of["caseload_entries"],
        hepb_courses=of["hepb_courses"],
        benefits_ended=of["benefits_ended"],
        benefits_started=of["benefits_started"],
        died=died,
        retracted=tuple(sorted(retracted, key=lambda e: e.source_id)),
    )


def _key(pair: tuple[tuple[date, str], RecordEvent]) -> tuple[date, str]:
    return pair[0]


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
