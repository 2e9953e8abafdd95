"""Payment runs and disputes in the ledger (RULES.md §5, §7): taken, recorded, replayed.

A run is an immutable stream of one event holding its inputs (E, K, the ruleset ids, the store
position of the last event it could see, its sequence number) and its lines and totals.
Replaying a run recomputes it from exactly those inputs — the events up to that position received
on or before K, those rulesets, the runs before it — so later records, corrections, rulesets and
runs change nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from ledger.events import RecordEvent
from ledger.memory import cycle_collection_paused
from ledger.rulesets import Ruleset, select_ruleset
from ledger.store import Ledger
from ledger.views import Projection
from projections.engine import derive_all
from projections.payments import (
    Adjustment,
    Entitlement,
    EntitlementKey,
    Line,
    adjustment_lines,
    entitlement_lines,
    entitlements,
    line_json,
    lines_digest,
    net_paid,
    totals,
)

_RUN_NAMESPACE = uuid5(NAMESPACE_URL, "pbr:run")
_DISPUTE_NAMESPACE = uuid5(NAMESPACE_URL, "pbr:dispute")


class PaymentRun(Aggregate):
    """A recorded payment run."""

    class Taken(Aggregate.Created):
        run_id: str
        sequence: int
        as_of: date
        known_on: date
        rulesets: list[str]
        position: int
        lines: list[list[Any]]  # LINE_FIELDS; runs recorded before stored each as an object
        overpayments: list[dict[str, Any]]
        provider_totals: dict[str, Decimal]
        site_totals: dict[str, Decimal]
        total: Decimal
        digest: str

    def __init__(self, run_id: str, sequence: int, as_of: date, known_on: date,
                 rulesets: list[str], position: int, lines: list[list[Any]],
                 overpayments: list[dict[str, Any]], provider_totals: dict[str, Decimal],
                 site_totals: dict[str, Decimal], total: Decimal, digest: str) -> None:
        self.run_id, self.sequence, self.as_of, self.known_on = run_id, sequence, as_of, known_on
        self.rulesets, self.position = rulesets, position
        self.lines, self.overpayments = lines, overpayments
        self.provider_totals, self.site_totals = provider_totals, site_totals
        self.total, self.digest = total, digest

    @classmethod
    def create_id(cls, run_id: str, **_: Any) -> UUID:
        return uuid5(_RUN_NAMESPACE, run_id)


class Dispute(Aggregate):
    """A provider's dispute of an entitlement or a run line, and everything said about it."""

    class Raised(Aggregate.Created):
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

    class Noted(Aggregate.Event):
        on: date
        note: str
        evidence: list[str]

        def apply(self, dispute: Dispute) -> None:
            dispute.notes.append({"on": self.on, "note": self.note, "evidence": self.evidence})

    class Resolved(Aggregate.Event):
        on: date
        resolution: str  # "upheld" or "rejected"
        amount: Decimal
        reason: str

        def apply(self, dispute: Dispute) -> None:
            dispute.resolution = self.resolution
            dispute.amount = self.amount
            dispute.resolution_reason = self.reason
            dispute.resolved_on = self.on

    def __init__(self, dispute_id: str, provider: str, raised_on: date, reason: str,
                 run_id: str | None, line: int | None, client: str | None,
                 journey: str | None, outcome: str | None, instalment: int | None,
                 site: str | None) -> None:
        self.dispute_id, self.provider, self.raised_on, self.reason = (dispute_id, provider,
                                                                        raised_on, reason)
        self.run_id, self.line = run_id, line
        self.client, self.journey, self.outcome, self.instalment = (client, journey, outcome,
                                                                     instalment)
        self.site = site
        self.notes: list[dict[str, Any]] = []
        self.resolution: str | None = None
        self.amount: Decimal | None = None
        self.resolution_reason: str | None = None
        self.resolved_on: date | None = None

    @classmethod
    def create_id(cls, dispute_id: str, **_: Any) -> UUID:
        return dispute_stream_id(dispute_id)

    def note(self, on: date, note: str, evidence: list[str]) -> None:
        self.trigger_event(self.Noted, on=on, note=note, evidence=evidence)

    def resolve(self, on: date, resolution: str, amount: Decimal, reason: str) -> None:
        self.trigger_event(self.Resolved, on=on, resolution=resolution, amount=amount,
                           reason=reason)


def dispute_stream_id(dispute_id: str) -> UUID:
    return uuid5(_DISPUTE_NAMESPACE, dispute_id)


RUN_TOPIC = "ledger.runs:PaymentRun.Taken"
DISPUTE_TOPICS = ["ledger.runs:Dispute.Raised", "ledger.runs:Dispute.Resolved"]


class RunRefused(ValueError):
    """A run that may not be taken (as of a date before the last run's)."""


@dataclass(frozen=True)
class Computed:
    lines: list[Line]
    overpayments: list[dict[str, Any]]


def line_from_json(stored: dict[str, Any] | list[Any]) -> Line:
    row = line_json(stored)
    return Line(row["client"], row["journey"], row["outcome"], row["instalment"], row["kind"],
                Decimal(str(row["amount"])), row["provider"], row["site"], row.get("cohort"),
                row.get("dispute"), row.get("reason", ""))


def recorded_runs(ledger: Ledger) -> list[PaymentRun.Taken]:
    """Every recorded run, in the order taken."""
    return [event for _, event in ledger.notifications(topics=[RUN_TOPIC])]


def _inputs(ledger: Ledger, position: int, known_on: date,
            ) -> tuple[dict[str, list[RecordEvent]], list[Adjustment]]:
    """The records up to ``position`` received on or before K, and the upheld adjustments."""
    by_client: dict[str, list[RecordEvent]] = defaultdict(list)
    for at, event in ledger.notifications():
        if at > position:
            break
        if isinstance(event, RecordEvent) and event.received_on <= known_on:
            by_client[event.client].append(event)
    return dict(by_client), upheld_adjustments(ledger, position)


def upheld_adjustments(ledger: Ledger, position: int) -> list[Adjustment]:
    """The adjustments of the disputes upheld up to ``position`` (RULES.md §7)."""
    raised: dict[str, Dispute.Raised] = {}
    adjustments: list[Adjustment] = []
    for at, event in ledger.notifications(topics=DISPUTE_TOPICS):
        if at > position:
            break
        if isinstance(event, Dispute.Raised):
            raised[str(event.originator_id)] = event
        elif isinstance(event, Dispute.Resolved) and event.resolution == "upheld":
            origin = raised[str(event.originator_id)]
            adjustments.append(Adjustment(origin.dispute_id, event.amount, origin.provider,
                                          origin.site, origin.client, origin.journey,
                                          origin.outcome, origin.instalment, event.reason))
    return adjustments


@cycle_collection_paused()
def compute_run(ledger: Ledger, as_of: date, known_on: date, rulesets: list[Ruleset],
                position: int, earlier: list[PaymentRun.Taken]) -> Computed:
    """A run's lines from its inputs alone (RULES.md §5)."""
    by_client, adjustments = _inputs(ledger, position, known_on)
    results, _ = derive_all(by_client, rulesets, as_of, known_on)
    clawback = {ruleset.id: ruleset.clawback for ruleset in rulesets}
    earlier_lines = _earlier_lines(earlier)
    return _lines(entitlements(results, as_of, clawback), earlier_lines, net_paid(earlier_lines),
                  adjustments, _orphan_clawback(rulesets, lambda client: by_client.get(client, [])))


def compute_run_from_projection(ledger: Ledger, projection: Projection, as_of: date,
                                rulesets: list[Ruleset], position: int,
                                earlier: list[PaymentRun.Taken]) -> Computed:
    """The same lines as :func:`compute_run`, read from the projection tables.

    Only achieved entitlements are read; an entitlement paid earlier that is no longer achieved
    is found through its outcome row, which says why.
    """
    clawback = {ruleset.id: ruleset.clawback for ruleset in rulesets}
    found = projection.entitlements(as_of, clawback)
    earlier_lines = _earlier_lines(earlier)
    paid = net_paid(earlier_lines)
    achieved = {entitlement.key for entitlement in found}
    unachieved = {key for key, amount in paid.items() if amount and key not in achieved}
    if unachieved:
        found += [entitlement for entitlement in entitlements(
            projection.outcome_rows(list(unachieved)), as_of, clawback)
            if entitlement.key in unachieved]
    def events_of(client: str) -> list[RecordEvent]:
        return [e for e in ledger.client_events(client) if e.received_on <= as_of]

    return _lines(found, earlier_lines, paid, upheld_adjustments(ledger, position),
                  _orphan_clawback(rulesets, events_of))


def _orphan_clawback(rulesets: list[Ruleset],
                     events_of: Callable[[str], Sequence[RecordEvent]],
                     ) -> Callable[[EntitlementKey, str | None], bool]:
    """Payments decision 10: whether a paid entitlement the ledger no longer derives is clawed
    back. The ruleset that governs it decides, as for any other: the one selected for its site
    (the site its last line went to) on its journey's start date, read from the journey's start
    record, retracted or not, or on a cohort's start; ``clawback = true`` when there is none.
    """
    def clawback(key: EntitlementKey, site: str | None) -> bool:
        client, journey, _, _, cohort, _ = key
        if site is None:
            return True
        if client is not None:
            starts = [e.on for e in events_of(client)
                      if e.type == "treatment_started" and e.journey == journey]
            day = starts[-1] if starts else None
        else:
            day = date.fromisoformat(cohort.rsplit(":", 1)[1]) if cohort else None
        governing = None if day is None else select_ruleset(rulesets, site, day)
        return True if governing is None else governing.clawback
    return clawback


def _earlier_lines(earlier: list[PaymentRun.Taken]) -> list[Line]:
    return [line_from_json(row) for run in earlier for row in run.lines]


def _lines(found: list[Entitlement], earlier_lines: list[Line],
           paid: dict[EntitlementKey, Decimal], adjustments: list[Adjustment],
           orphan_clawback: Callable[[EntitlementKey, str | None], bool]) -> Computed:
    """The run's lines: what ``found`` makes payable against what the earlier runs' lines
    (``earlier_lines``, netting to ``paid``) paid, then the upheld adjustments not yet paid."""
    lines, overpayments = entitlement_lines(found, paid, earlier_lines, orphan_clawback)
    paid_disputes = {line.dispute for line in earlier_lines if line.dispute}
    lines += adjustment_lines(adjustments, paid_disputes)
    return Computed(lines, [{"client": o.key[0], "journey": o.key[1], "outcome": o.key[2],
                             "instalment": o.key[3], "paid": o.paid, "payable": o.payable,
                             "provider": o.provider, "site": o.site} for o in overpayments])


@cycle_collection_paused()
def take_run(ledger: Ledger, as_of: date, known_on: date) -> PaymentRun:
    """Take and record a run as of E known on K."""
    earlier = recorded_runs(ledger)
    if earlier and as_of < earlier[-1].as_of:
        raise RunRefused(f"--as-of: {as_of} is before the last run's date {earlier[-1].as_of} "
                         f"({earlier[-1].run_id}); runs are taken in date order")
    rulesets = ledger.rulesets()
    projection = Projection.existing(ledger)
    if projection is not None and projection.serves(as_of, known_on):
        position = projection.position()
        computed = compute_run_from_projection(ledger, projection, as_of, rulesets, position,
                                               earlier)
    else:
        position = ledger.max_position()
        computed = compute_run(ledger, as_of, known_on, rulesets, position, earlier)
    sequence = len(earlier) + 1
    del earlier
    lines, overpayments = computed.lines, computed.overpayments
    del computed
    provider_totals, site_totals = totals(lines, "provider"), totals(lines, "site")
    total = sum((line.amount for line in lines), Decimal("0.00"))
    digest = lines_digest(lines)
    # A national run has hundreds of thousands of lines: each is dropped once it is written out.
    lines.reverse()
    stored = [lines.pop().as_row() for _ in range(len(lines))]
    run = PaymentRun(
        run_id=f"R{sequence:04d}", sequence=sequence, as_of=as_of, known_on=known_on,
        rulesets=sorted(r.id for r in rulesets), position=position, lines=stored,
        overpayments=overpayments, provider_totals=provider_totals, site_totals=site_totals,
        total=total, digest=digest)
    ledger.save(run)
    return run


def find_run(ledger: Ledger, run_id: str) -> PaymentRun.Taken | None:
    return next((run for run in recorded_runs(ledger) if run.run_id == run_id), None)


def _run_context(ledger: Ledger, run: PaymentRun.Taken,
                 ) -> tuple[list[Ruleset], list[PaymentRun.Taken]]:
    """The rulesets a run named and the runs recorded before it: its recorded context."""
    rulesets = [r for r in ledger.rulesets() if r.id in set(run.rulesets)]
    return rulesets, [r for r in recorded_runs(ledger) if r.sequence < run.sequence]


def recompute_today(ledger: Ledger, run: PaymentRun.Taken, today: date) -> list[Line]:
    """The run's lines as today's knowledge would have them: same E and earlier runs."""
    rulesets, earlier = _run_context(ledger, run)
    known_on = max(today, run.known_on)
    return compute_run(ledger, run.as_of, known_on, rulesets, ledger.max_position(),
                       earlier).lines


def records_since(ledger: Ledger, run: PaymentRun.Taken) -> dict[str, list[RecordEvent]]:
    """Per client, the records the run could not see: received after K, or stored after it."""
    unseen: dict[str, list[RecordEvent]] = defaultdict(list)
    for at, event in ledger.notifications():
        if isinstance(event, RecordEvent) and (event.received_on > run.known_on
                                               or at > run.position):
            unseen[event.client].append(event)
    return dict(unseen)


def replay_run(ledger: Ledger, run: PaymentRun.Taken) -> tuple[list[Line], list[Line]]:
    """Recompute a run from its recorded inputs: (recorded lines, recomputed lines)."""
    rulesets, earlier = _run_context(ledger, run)
    computed = compute_run(ledger, run.as_of, run.known_on, rulesets, run.position, earlier)
    return [line_from_json(row) for row in run.lines], computed.lines


def diff_lines(recorded: list[Line], recomputed: list[Line]) -> list[dict[str, Any]]:
    """Line-by-line differences in amount between two versions of a run, by entitlement."""
    def keyed(lines: list[Line]) -> dict[tuple, Line]:
        return {(*line.key, line.kind, line.dispute): line for line in lines}

    before, after = keyed(recorded), keyed(recomputed)
    differences = []
    for key in sorted(set(before) | set(after), key=lambda k: tuple(str(p) for p in k)):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and old.amount == new.amount:
            continue
        sample = new or old
        assert sample is not None
        differences.append({
            "client": sample.client, "journey": sample.journey, "outcome": sample.outcome,
            "instalment": sample.instalment, "kind": sample.kind,
            "recorded": None if old is None else str(old.amount),
            "recomputed": None if new is None else str(new.amount),
            "reason": new.reason if new is not None else "no longer a line of this run"})
    return differences


def read_disputes(ledger: Ledger) -> list[Dispute]:
    """Every dispute, in the order raised."""
    raised = [event for _, event in ledger.notifications(topics=["ledger.runs:Dispute.Raised"])]
    return [ledger.repository.get(event.originator_id) for event in raised]


def read_dispute(ledger: Ledger, dispute_id: str) -> Dispute | None:
    try:
        return ledger.repository.get(dispute_stream_id(dispute_id))
    except AggregateNotFoundError:
        return None


def raise_dispute(ledger: Ledger, provider: str, raised_on: date, reason: str,
                  **target: Any) -> Dispute:
    """Raise and record a new dispute, numbered D0001, D0002, …"""
    count = len(list(ledger.notifications(topics=["ledger.runs:Dispute.Raised"])))
    dispute = Dispute(dispute_id=f"D{count + 1:04d}", provider=provider, raised_on=raised_on,
                      reason=reason, **target)
    ledger.save(dispute)
    return dispute
