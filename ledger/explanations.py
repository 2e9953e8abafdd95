"""Explanations a dispute panel can read (``pbr explain``): each outcome of a client with every
record it rests on (its own date and when it was received), the retractions that changed it,
and the run lines that paid or clawed back its entitlement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ledger.events import Correction, RecordEvent
from ledger.runs import entitlement_runs
from ledger.store import Ledger
from projections.engine import derive_client
from projections.history import build_history
from projections.model import ClientOutcomes, OutcomeResult, Unruled
from projections.offending import Clock
from projections.views import client_clocks

_OWN_DATES = ("on", "offence_on", "disposal_on", "date_of_birth")


@dataclass(frozen=True)
class Explanation:
    result: OutcomeResult  # its citations carry ``received_on``
    retractions: tuple[dict[str, Any], ...]
    run_lines: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ClientExplanation:
    client: str
    explanations: tuple[Explanation, ...]
    unruled: tuple[Unruled, ...]


def own_date(event: RecordEvent) -> date:
    """A record's own date (a correction has none but the day it was received)."""
    return next((getattr(event, name) for name in _OWN_DATES if hasattr(event, name)),
                event.received_on)


def explain_client(ledger: Ledger, client: str, as_of: date, known_on: date,
                   outcome: str | None = None) -> ClientExplanation | None:
    """Every outcome of ``client`` (or only ``outcome``) as of E known on K, explained; ``None``
    when the client is not registered as known on K."""
    events = ledger.client_events(client)
    rulesets = ledger.rulesets()
    derived = derive_client(events, rulesets, as_of, known_on)
    if derived is None:
        return None
    received = {event.source_id: event.received_on for event in events}
    results = [r for r in derived.outcomes if outcome is None or r.outcome == outcome]
    lines = entitlement_runs(ledger, client, outcome)
    explained = []
    for result in results:
        cited = replace(result, citations=tuple(replace(c, received_on=received.get(c.source_id))
                                                for c in result.citations))
        explained.append(Explanation(
            cited, tuple(_retractions(events, rulesets, as_of, known_on, result)),
            tuple(line for line in lines if line["journey"] == result.journey
                  and line["outcome"] == result.outcome)))
    return ClientExplanation(client, tuple(explained), derived.unruled)


def _retractions(events: list[RecordEvent], rulesets: list, as_of: date, known_on: date,
                 result: OutcomeResult) -> list[dict[str, Any]]:
    """The corrections known on K without which this outcome would stand otherwise: each is
    undone alone and the outcome derived again (RULES.md §2, retraction)."""
    by_id = {event.source_id: event for event in events}
    found = []
    for correction in events:
        if not isinstance(correction, Correction) or correction.received_on > known_on:
            continue
        without = derive_client([e for e in events if e is not correction], rulesets, as_of,
                                known_on)
        other = _same_outcome(without, result)
        if other is None or _standing(other) == _standing(result):
            continue
        retracted = by_id.get(correction.retracts)
        found.append({
            "source_id": correction.source_id, "received_on": correction.received_on,
            "retracts": correction.retracts, "reason": correction.reason,
            "retracted_type": None if retracted is None else retracted.type,
            "retracted_on": None if retracted is None else own_date(retracted),
            "retracted_received_on": None if retracted is None else retracted.received_on,
            "without_it": {"status": str(other.status), "amount": other.amount,
                           "evidence_on": other.evidence_on}})
    return found


def _same_outcome(derived: ClientOutcomes | None, result: OutcomeResult) -> OutcomeResult | None:
    if derived is None:
        return None
    return next((r for r in derived.outcomes
                 if r.journey == result.journey and r.outcome == result.outcome), None)


def _standing(result: OutcomeResult) -> tuple:
    instalments = tuple((i.status, i.amount) for i in result.instalments or ())
    return (result.status, result.amount, result.evidence_on, instalments)


def offending_clocks(ledger: Ledger, client: str, as_of: date, known_on: date,
                     ) -> list[Clock] | None:
    """``pbr clock``: the offending clock of each of the client's journeys whose ruleset runs
    one, as of E known on K; ``None`` when the client is not registered as known on K."""
    history = build_history(ledger.client_events(client), known_on, as_of)
    if history is None:
        return None
    return client_clocks(history, ledger.rulesets(), as_of)
