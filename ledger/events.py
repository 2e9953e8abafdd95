"""Immutable domain events: one per record type of CONTRACT.md.

Each record a source system sends becomes one event in its client's stream (aggregate
:class:`ClientHistory`); rulesets, payment runs and disputes have streams of their own. Events are
frozen dataclasses with real ``date`` and ``Decimal`` fields; nothing is ever updated or deleted,
a correction is a new event naming the ``source_id`` it withdraws.

Every record event class carries ``type``, the record type name of CONTRACT.md, so that
derivations can switch on the name the data feeds use.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

_CLIENT_NAMESPACE = uuid5(NAMESPACE_URL, "pbr:client")


def client_stream_id(client: str) -> UUID:
    """The stream id of a client: stable, so a client's stream is found from its id alone."""
    return uuid5(_CLIENT_NAMESPACE, client)


class RecordEvent(Aggregate.Event):
    """What every record has (CONTRACT.md, "Records")."""

    type: ClassVar[str] = ""

    source_id: str
    received_on: date
    client: str

    def apply(self, aggregate: Any) -> None:
        aggregate.record(self)


_JOURNEY_RECORDS = frozenset({"treatment_started", "discharged", "died"})


class ClientImportState:
    """What import checks a client's next record against: its journeys, which one is open, which
    source ids it has, which are retracted, and its death.

    Folded one record at a time in the order the ledger received them, from the client's stored
    events (:class:`ClientHistory`) or straight from validated records: both carry the record's
    ``type`` and fields. Outcomes are derived from the events, never from this state. A retracted
    record no longer counts here, so a wrong discharge can be corrected and sent again.
    """

    def __init__(self, source_id: str, received_on: date, client: str, site: str,
                 date_of_birth: date) -> None:
        self.client = client
        self.site = site
        self.date_of_birth = date_of_birth
        self.record_types: dict[str, str] = {source_id: "client_registered"}
        self.retracted: set[str] = set()
        # source_id -> (type, journey, on) of each start, discharge and death: only what the
        # journeys are folded from (import keeps a state per client, so it is kept small)
        self.journey_records: dict[str, tuple[str, str | None, date]] = {}
        self.journey_starts: dict[str, date] = {}
        self.journey_ends: dict[str, date] = {}
        self.died_on: date | None = None

    def record(self, record: Any) -> None:
        """Fold one record (an event or a validated record) after the registration."""
        self.record_types[record.source_id] = record.type
        if record.type == "correction":
            self.retracted.add(record.retracts)
            self._rebuild_journeys()
        elif record.type in _JOURNEY_RECORDS:
            fact = (record.type, getattr(record, "journey", None), record.on)
            self.journey_records[record.source_id] = fact
            self._fold(*fact)

    def _rebuild_journeys(self) -> None:
        self.journey_starts, self.journey_ends, self.died_on = {}, {}, None
        for source_id, fact in self.journey_records.items():
            if source_id not in self.retracted:
                self._fold(*fact)

    def _fold(self, kind: str, journey: str | None, on: date) -> None:
        if kind == "treatment_started":
            self.journey_starts[journey] = on  # type: ignore[index]
        elif kind == "discharged":
            self.journey_ends[journey] = on  # type: ignore[index]
        elif kind == "died":
            self.died_on = on
            open_journey = self.open_journey()
            if open_journey is not None:
                self.journey_ends[open_journey] = on

    def open_journey(self) -> str | None:
        for journey in self.journey_starts:
            if journey not in self.journey_ends:
                return journey
        return None

    def last_discharge(self) -> date | None:
        return max(self.journey_ends.values(), default=None)


class ClientHistory(ClientImportState, Aggregate):
    """A client's stream: every record about one client, in the order the ledger received it.

    The aggregate's state is the import state its events fold into (``RecordEvent.apply``).
    """

    class Registered(Aggregate.Created, RecordEvent):
        type: ClassVar[str] = "client_registered"
        site: str
        date_of_birth: date

        def apply(self, aggregate: Any) -> None:  # the Created event builds the aggregate
            pass

    @classmethod
    def create_id(cls, client: str, **_: Any) -> UUID:
        return client_stream_id(client)


class TreatmentStarted(RecordEvent):
    type: ClassVar[str] = "treatment_started"
    journey: str
    provider: str
    on: date
    substances: list[str]
    injecting: bool
    housing: str
    hepb_vaccination_needed: bool
    lasars_band: int | None


class TopRecorded(RecordEvent):
    type: ClassVar[str] = "top_recorded"
    journey: str
    on: date
    stage: str
    days_used: dict[str, int]
    injecting_days: int | None
    acute_housing_problem: bool | None
    at_risk_of_eviction: bool | None
    psychological_health: int | None
    physical_health: int | None
    quality_of_life: int | None


class Discharged(RecordEvent):
    type: ClassVar[str] = "discharged"
    journey: str
    on: date
    reason: str
    on_substitute_medication: bool


class CjsCaseloadEntered(RecordEvent):
    type: ClassVar[str] = "cjs_caseload_entered"
    on: date
    caseload: str


class ProvenOffence(RecordEvent):
    type: ClassVar[str] = "proven_offence"
    offence_on: date
    disposal: str
    disposal_on: date
    trigger_offence: bool


class ReleasedFromCustody(RecordEvent):
    type: ClassVar[str] = "released_from_custody"
    on: date


class HepbCourseCompleted(RecordEvent):
    type: ClassVar[str] = "hepb_course_completed"
    on: date


class BenefitsEnded(RecordEvent):
    type: ClassVar[str] = "benefits_ended"
    on: date


class BenefitsStarted(RecordEvent):
    type: ClassVar[str] = "benefits_started"
    on: date


class Died(RecordEvent):
    type: ClassVar[str] = "died"
    on: date


class Correction(RecordEvent):
    type: ClassVar[str] = "correction"
    retracts: str
    reason: str


RECORD_EVENTS: dict[str, type[RecordEvent]] = {
    cls.type: cls
    for cls in (
        ClientHistory.Registered, TreatmentStarted, TopRecorded, Discharged, CjsCaseloadEntered,
        ProvenOffence, ReleasedFromCustody, HepbCourseCompleted, BenefitsEnded, BenefitsStarted,
        Died, Correction,
    )
}
