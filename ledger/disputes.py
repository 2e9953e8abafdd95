"""Dispute services (RULES.md §7): raise, note and resolve — each checks, then records.

Every action takes ``today`` (the day the command runs: no date may be later) and ``by`` (who
acts, recorded in the event), so the command line and a web view share exactly these checks.
A refusal raises :class:`DisputeRefused` with one of the reason codes below.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger.dispute_events import RAISED_TOPICS, Dispute, dispute_stream_id, raised_count
from ledger.refusals import Refused
from ledger.rulesets import OPTIONS
from ledger.runs import find_run
from ledger.store import Ledger
from projections.engine import derive_client
from projections.model import OutcomeResult, Status
from projections.payments import line_json

# Reason codes (stable: tests and interfaces read them).
NOT_YOUR_LINE = "not_your_line"
UNKNOWN_RUN, UNKNOWN_LINE = "unknown_run", "unknown_line"
UNKNOWN_CLIENT, UNKNOWN_OUTCOME = "unknown_client", "unknown_outcome"
UNKNOWN_JOURNEY, UNKNOWN_INSTALMENT = "unknown_journey", "unknown_instalment"
NO_TARGET, JOURNEY_REQUIRED = "no_target", "journey_required"
INELIGIBLE_OUTCOME = "ineligible_outcome"
RAISED_BEFORE_RUN, RAISED_BEFORE_JOURNEY = "raised_before_run", "raised_before_journey"
DATED_AFTER_TODAY, DATED_BEFORE_RAISING = "dated_after_today", "dated_before_raising"
UNKNOWN_DISPUTE, ALREADY_RESOLVED = "unknown_dispute", "already_resolved"
UNKNOWN_RESOLUTION = "unknown_resolution"
AMOUNT_REQUIRED, AMOUNT_ON_REJECTED = "amount_required", "amount_on_rejected"
ZERO_ADJUSTMENT, NOT_WHOLE_PENCE = "zero_adjustment", "not_whole_pence"


class DisputeRefused(Refused):
    """A dispute action the ledger will not record (RULES.md §7)."""


def read_disputes(ledger: Ledger) -> list[Dispute]:
    """Every dispute, in the order raised."""
    return [ledger.repository.get(event.originator_id)
            for _, event in ledger.notifications(topics=RAISED_TOPICS)]


def read_dispute(ledger: Ledger, dispute_id: str) -> Dispute | None:
    try:
        return ledger.repository.get(dispute_stream_id(dispute_id))
    except AggregateNotFoundError:
        return None


def _not_after_today(on: date, today: date, what: str) -> None:
    """RULES.md §7: no date is later than the day the command runs."""
    if on > today:
        raise DisputeRefused(DATED_AFTER_TODAY, f"--on: {what} {on} is later than today ({today})")


def raise_dispute(ledger: Ledger, provider: str, raised_on: date, reason: str, *, today: date,
                  by: str, run_id: str | None = None, line: int | None = None,
                  client: str | None = None, journey: str | None = None,
                  outcome: str | None = None, instalment: int | None = None) -> Dispute:
    """RULES.md §7: raise a dispute of a run line (``run_id``, ``line``) or of an entitlement
    (``client``, ``outcome``, ``journey``, ``instalment``), numbered D0001, D0002, …"""
    _not_after_today(raised_on, today, "a dispute raised on")
    if run_id is not None:
        target = _run_line_target(ledger, provider, raised_on, run_id, line)
    elif client is not None and outcome is not None:
        target = _entitlement_target(ledger, provider, raised_on, today, client, outcome,
                                     journey, instalment)
    else:
        raise DisputeRefused(NO_TARGET, "name a run line (--run and --line) or an entitlement "
                                        "(--client and --outcome)")
    dispute = Dispute(dispute_id=f"D{raised_count(ledger) + 1:04d}", provider=provider,
                      raised_on=raised_on, reason=reason, by=by, **target)
    ledger.save(dispute)
    return dispute


def _run_line_target(ledger: Ledger, provider: str, raised_on: date, run_id: str,
                     line: int | None) -> dict[str, Any]:
    """A run line the provider was paid or clawed back, disputed on or after the run's E."""
    run = find_run(ledger, run_id)
    if run is None:
        raise DisputeRefused(UNKNOWN_RUN, f"--run: no payment run {run_id!r} is recorded")
    if line is None or not 1 <= line <= len(run.lines):
        raise DisputeRefused(UNKNOWN_LINE, f"--line: run {run_id} has lines 1 to "
                                           f"{len(run.lines)}" if run.lines
                             else f"--line: run {run_id} has no lines")
    row = line_json(run.lines[line - 1])
    if row["provider"] != provider:
        raise DisputeRefused(NOT_YOUR_LINE, f"--line: line {line} of {run_id} is not a line "
                                            f"of provider {provider}")
    if raised_on < run.as_of:
        raise DisputeRefused(RAISED_BEFORE_RUN, f"--on: {raised_on} is before run {run_id}'s "
                                                f"date {run.as_of}")
    return {"run_id": run_id, "line": line, "client": row["client"],
            "journey": row["journey"], "outcome": row["outcome"],
            "instalment": row["instalment"], "site": row["site"]}


def _entitlement_target(ledger: Ledger, provider: str, raised_on: date, today: date,
                        client: str, outcome: str, journey: str | None,
                        instalment: int | None) -> dict[str, Any]:
    """An entitlement of a journey the provider provides, named without doubt (payments
    decisions 13, 15), disputed on or after its journey's start."""
    if outcome not in OPTIONS:
        raise DisputeRefused(UNKNOWN_OUTCOME, f"--outcome: {outcome!r} is not an outcome")
    events = ledger.client_events(client)
    derived = derive_client(events, ledger.rulesets(), today, today)
    if derived is None:
        raise DisputeRefused(UNKNOWN_CLIENT, f"--client: no client {client!r} is registered")
    result = _the_outcome(derived.outcomes, client, outcome, journey)
    if result.provider != provider:
        raise DisputeRefused(NOT_YOUR_LINE, f"--journey: journey {result.journey} of client "
                                            f"{client} is not provided by {provider}")
    _eligible(result, instalment)
    started = min((e.on for e in events if e.type == "treatment_started"
                   and e.journey == result.journey), default=None)
    if started is not None and raised_on < started:
        raise DisputeRefused(RAISED_BEFORE_JOURNEY, f"--on: {raised_on} is before journey "
                                                    f"{result.journey} started ({started})")
    return {"run_id": None, "line": None, "client": client, "journey": result.journey,
            "outcome": outcome, "instalment": instalment, "site": result.site}


def _the_outcome(results: tuple[OutcomeResult, ...], client: str, outcome: str,
                 journey: str | None) -> OutcomeResult:
    """The one outcome named: the journey's, or the client's only journey with it."""
    found = [r for r in results if r.outcome == outcome and r.cohort is None
             and (journey is None or r.journey == journey)]
    if not found:
        where = f"journey {journey} of client {client}" if journey else f"client {client}"
        raise DisputeRefused(UNKNOWN_JOURNEY, f"--journey: {where} has no outcome {outcome}")
    if len(found) > 1:
        journeys = ", ".join(sorted(r.journey or "" for r in found))
        raise DisputeRefused(JOURNEY_REQUIRED, f"--journey: client {client} has {outcome} on "
                                               f"journeys {journeys}; name one")
    return found[0]


def _eligible(result: OutcomeResult, instalment: int | None) -> None:
    """Payments decision 14: an ineligible outcome or instalment earns nothing to dispute."""
    status = result.status
    if instalment is not None:
        match = [i for i in result.instalments or () if i.n == instalment]
        if not match:
            raise DisputeRefused(UNKNOWN_INSTALMENT, f"--instalment: {result.outcome} of journey "
                                                     f"{result.journey} has no instalment "
                                                     f"{instalment}")
        status = match[0].status
    if status == Status.INELIGIBLE:
        raise DisputeRefused(INELIGIBLE_OUTCOME, f"--outcome: {result.outcome} of journey "
                                                 f"{result.journey} is ineligible "
                                                 f"({result.reason}); it cannot be disputed")


def _open(ledger: Ledger, dispute_id: str) -> Dispute:
    dispute = read_dispute(ledger, dispute_id)
    if dispute is None:
        raise DisputeRefused(UNKNOWN_DISPUTE, f"DISPUTE: no dispute {dispute_id!r}")
    if dispute.resolution is not None:
        raise DisputeRefused(ALREADY_RESOLVED, f"DISPUTE: {dispute_id} is already resolved "
                                               f"({dispute.resolution})")
    return dispute


def _dated(dispute: Dispute, on: date, today: date, what: str) -> None:
    """RULES.md §7: notes and the resolution on or after the raising, never after today."""
    if on < dispute.raised_on:
        raise DisputeRefused(DATED_BEFORE_RAISING, f"--on: {what} {on} is before the dispute was "
                                                   f"raised ({dispute.raised_on})")
    _not_after_today(on, today, what)


def note_dispute(ledger: Ledger, dispute_id: str, on: date, note: str, evidence: list[str], *,
                 today: date, by: str) -> Dispute:
    """RULES.md §7: add a note and evidence references to an open dispute."""
    dispute = _open(ledger, dispute_id)
    _dated(dispute, on, today, "a note dated")
    dispute.note(on, note, list(evidence), by)
    ledger.save(dispute)
    return dispute


def resolve_dispute(ledger: Ledger, dispute_id: str, on: date, resolution: str,
                    amount: Decimal | None, reason: str, *, today: date, by: str) -> Dispute:
    """RULES.md §7: resolve as ``upheld`` (a non-zero adjustment in whole pence) or
    ``rejected`` (no amount)."""
    value = _adjustment(resolution, amount)
    dispute = _open(ledger, dispute_id)
    _dated(dispute, on, today, "a resolution dated")
    dispute.resolve(on, resolution, value, reason, by)
    ledger.save(dispute)
    return dispute


def _adjustment(resolution: str, amount: Decimal | None) -> Decimal:
    """RULES.md §7: an upheld adjustment is not zero and is in whole pence."""
    if resolution not in ("upheld", "rejected"):
        raise DisputeRefused(UNKNOWN_RESOLUTION, f"--resolution: {resolution!r} is neither "
                                                 "upheld nor rejected")
    if resolution == "rejected":
        if amount is not None:
            raise DisputeRefused(AMOUNT_ON_REJECTED, "--amount: a rejected dispute has no "
                                                     "adjustment")
        return Decimal("0.00")
    if amount is None:
        raise DisputeRefused(AMOUNT_REQUIRED, "--amount: an upheld dispute needs an amount in "
                                              "pounds, e.g. 250.00")
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise DisputeRefused(NOT_WHOLE_PENCE, f"--amount: {amount} is not in whole pence")
    if amount == 0:
        raise DisputeRefused(ZERO_ADJUSTMENT, "--amount: an upheld adjustment is not zero")
    return amount.quantize(Decimal("0.01"))
