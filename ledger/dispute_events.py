"""The dispute stream (RULES.md §7): raised, noted, resolved — and the adjustments it makes due.

One stream per dispute. Every event names ``by``, the person (or the command line's user) who
acted; events recorded before that field existed read back with ``by = ""``. Disputes were first
recorded under the module ``ledger.runs``: those topics still resolve to these classes, and reads
by topic ask for both.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from ledger.store import Ledger
from projections.payments import Adjustment

_DISPUTE_NAMESPACE = uuid5(NAMESPACE_URL, "pbr:dispute")


def _with_by(state: dict[str, Any]) -> None:
    state.setdefault("by", "")


class Dispute(Aggregate):
    """A provider's dispute of an entitlement or a run line, and everything said about it."""

    class Raised(Aggregate.Created):
        class_version = 2
        dispute_id: str
        provider: str
        raised_on: date
        reason: str
        run_id: str | None
        line: int | None
        client: str | None
        journey: str | None
        outcome: str | None
        instalment: int | None
        site: str | None
        by: str

        upcast_v1_v2 = staticmethod(_with_by)

    class Noted(Aggregate.Event):
        class_version = 2
        on: date
        note: str
        evidence: list[str]
        by: str

        upcast_v1_v2 = staticmethod(_with_by)

        def apply(self, dispute: Dispute) -> None:
            dispute.notes.append({"on": self.on, "note": self.note, "evidence": self.evidence,
                                  "by": self.by})

    class Resolved(Aggregate.Event):
        class_version = 2
        on: date
        resolution: str  # "upheld" or "rejected"
        amount: Decimal
        reason: str
        by: str

        upcast_v1_v2 = staticmethod(_with_by)

        def apply(self, dispute: Dispute) -> None:
            dispute.resolution = self.resolution
            dispute.amount = self.amount
            dispute.resolution_reason = self.reason
            dispute.resolved_on = self.on
            dispute.resolved_by = self.by

    def __init__(self, dispute_id: str, provider: str, raised_on: date, reason: str,
                 run_id: str | None, line: int | None, client: str | None,
                 journey: str | None, outcome: str | None, instalment: int | None,
                 site: str | None, by: str) -> None:
        self.dispute_id, self.provider, self.raised_on, self.reason = (dispute_id, provider,
                                                                        raised_on, reason)
        self.run_id, self.line = run_id, line
        self.client, self.journey, self.outcome, self.instalment = (client, journey, outcome,
                                                                     instalment)
        self.site, self.raised_by = site, by
        self.notes: list[dict[str, Any]] = []
        self.resolution: str | None = None
        self.amount: Decimal | None = None
        self.resolution_reason: str | None = None
        self.resolved_on: date | None = None
        self.resolved_by: str | None = None

    @classmethod
    def create_id(cls, dispute_id: str, **_: Any) -> UUID:
        return dispute_stream_id(dispute_id)

    def note(self, on: date, note: str, evidence: list[str], by: str) -> None:
        self.trigger_event(self.Noted, on=on, note=note, evidence=evidence, by=by)

    def resolve(self, on: date, resolution: str, amount: Decimal, reason: str, by: str) -> None:
        self.trigger_event(self.Resolved, on=on, resolution=resolution, amount=amount,
                           reason=reason, by=by)


def dispute_stream_id(dispute_id: str) -> UUID:
    return uuid5(_DISPUTE_NAMESPACE, dispute_id)


for _old, _cls in (("ledger.runs:Dispute", Dispute), ("ledger.runs:Dispute.Raised", Dispute.Raised),
                   ("ledger.runs:Dispute.Noted", Dispute.Noted),
                   ("ledger.runs:Dispute.Resolved", Dispute.Resolved)):
    register_topic(_old, _cls)

RAISED_TOPICS = ["ledger.dispute_events:Dispute.Raised", "ledger.runs:Dispute.Raised"]
RESOLVED_TOPICS = ["ledger.dispute_events:Dispute.Resolved", "ledger.runs:Dispute.Resolved"]
DISPUTE_TOPICS = [*RAISED_TOPICS, *RESOLVED_TOPICS]


def raised_count(ledger: Ledger) -> int:
    return sum(1 for _ in ledger.notifications(topics=RAISED_TOPICS))


def upheld_adjustments(ledger: Ledger, position: int, known_on: date) -> list[Adjustment]:
    """RULES.md §7: the adjustments of the disputes upheld up to ``position`` whose resolution
    date a run known on ``known_on`` reaches (``resolved_on <= known_on``)."""
    raised: dict[str, Dispute.Raised] = {}
    adjustments: list[Adjustment] = []
    for at, event in ledger.notifications(topics=DISPUTE_TOPICS):
        if at > position:
            break
        if isinstance(event, Dispute.Raised):
            raised[str(event.originator_id)] = event
        elif (isinstance(event, Dispute.Resolved) and event.resolution == "upheld"
              and event.on <= known_on):
            origin = raised[str(event.originator_id)]
            adjustments.append(Adjustment(origin.dispute_id, event.amount, origin.provider,
                                          origin.site, origin.client, origin.journey,
                                          origin.outcome, origin.instalment, event.reason))
    return adjustments
