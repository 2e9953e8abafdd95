"""What a user may see (CONTRACT.md "The web view"; docs/web.md decisions 1-6).

A ``provider`` user sees only the clients with a journey it provides, only its own journeys'
records, outcomes, run lines and totals, and only its own disputes; every other role sees all.
``provider=None`` below means "every provider". These are the only place such filtering is
decided: the web view asks, and answers 404 where the answer is no.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ledger.dispute_events import Dispute
from ledger.events import Correction, RecordEvent
from ledger.runs import PaymentRun, line_from_json
from ledger.store import Ledger, source_ids
from projections.payments import LINE_FIELDS, line_json, totals

SEARCH_SCAN = 5000  # a provider's search reads at most this many matching ids


def retracted_ids(events: Sequence[RecordEvent], known_on: date | None = None) -> set[str]:
    """The source ids withdrawn by a correction (known on ``known_on``, if given)."""
    return {e.retracts for e in events if isinstance(e, Correction)
            and (known_on is None or e.received_on <= known_on)}


def journey_providers(events: Sequence[RecordEvent]) -> dict[str, str]:
    """Each journey's provider, from its start records that are not retracted (decision 1)."""
    withdrawn = retracted_ids(events)
    return {e.journey: e.provider for e in events  # type: ignore[attr-defined]
            if e.type == "treatment_started" and e.source_id not in withdrawn}


def own_journeys(events: Sequence[RecordEvent], provider: str | None) -> set[str] | None:
    """The journeys ``provider`` provides (``None``: every journey, for the other roles)."""
    if provider is None:
        return None
    return {j for j, p in journey_providers(events).items() if p == provider}


def may_see_client(events: Sequence[RecordEvent], provider: str | None) -> bool:
    """Decision 1: a registered client with at least one journey the provider provides."""
    if not events:
        return False
    journeys = own_journeys(events, provider)
    return journeys is None or bool(journeys)


def visible_records(events: Sequence[RecordEvent], provider: str | None) -> list[RecordEvent]:
    """Decision 2: a provider sees the client's own records (registration, offences, releases,
    deaths, …: the evidence its journeys' outcomes rest on) and its own journeys' records, not
    another provider's journeys, nor the corrections of records it cannot see."""
    journeys = own_journeys(events, provider)
    if journeys is None:
        return list(events)
    shown: list[RecordEvent] = []
    seen: set[str] = set()
    for event in events:
        journey = getattr(event, "journey", None)
        if isinstance(event, Correction):
            if event.retracts in seen:
                shown.append(event)
            continue
        if journey is None or journey in journeys:
            shown.append(event)
            seen.add(event.source_id)
    return shown


def find_clients(ledger: Ledger, prefix: str, provider: str | None,
                 limit: int = 50) -> list[str]:
    """Client ids starting with ``prefix`` (an exact id first), at most ``limit``; for a
    provider only the clients it may see (decision 1)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (select(source_ids.c.client).distinct()
             .where(source_ids.c.client.like(f"{escaped}%", escape="\\"))
             .order_by(source_ids.c.client).limit(limit if provider is None else SEARCH_SCAN))
    with ledger.datastore.engine.connect() as connection:
        candidates = list(connection.execute(query).scalars())
    if prefix in candidates:
        candidates.remove(prefix)
        candidates.insert(0, prefix)
    if provider is None:
        return candidates[:limit]
    found = []
    for client in candidates:
        if provider in _providers_of(ledger, client):
            found.append(client)
            if len(found) == limit:
                break
    return found


def _providers_of(ledger: Ledger, client: str) -> set[str]:
    return set(journey_providers(ledger.client_events(client)).values())


def may_see_dispute(dispute: Dispute, provider: str | None) -> bool:
    return provider is None or dispute.provider == provider


@dataclass(frozen=True)
class ScopedRun:
    """A recorded run as one provider may see it (decision 3): its own lines, its own total,
    the site totals of its own lines; the run's dates, rulesets, position and digest as
    recorded (the digest is the whole run's, so a provider can match it to the commissioner's
    statement). The same attributes as :class:`PaymentRun.Taken`, for the same writers."""

    run_id: str
    sequence: int
    as_of: date
    known_on: date
    rulesets: list[str]
    position: int
    lines: list[Any]
    overpayments: list[dict[str, Any]]
    provider_totals: dict[str, Decimal]
    site_totals: dict[str, Decimal]
    total: Decimal
    digest: str
    numbers: list[int] = field(default_factory=list)  # each line's number in the whole run
    chain: Any = None  # the head the run rests on, as recorded (RULES.md §9)


_PROVIDER = LINE_FIELDS.index("provider")


def _provider_of(stored: Any) -> str | None:
    return stored.get("provider") if isinstance(stored, dict) else stored[_PROVIDER]


def scope_run(run: PaymentRun.Taken, provider: str | None) -> ScopedRun:
    """The run as ``provider`` may see it (``None``: the whole run)."""
    if provider is None:
        return ScopedRun(run.run_id, run.sequence, run.as_of, run.known_on, list(run.rulesets),
                         run.position, list(run.lines), list(run.overpayments),
                         dict(run.provider_totals), dict(run.site_totals), run.total,
                         run.digest, list(range(1, len(run.lines) + 1)),
                         getattr(run, "chain", None))
    numbered = [(n, stored) for n, stored in enumerate(run.lines, start=1)
                if _provider_of(stored) == provider]
    lines = [line_from_json(stored) for _, stored in numbered]
    return ScopedRun(
        run.run_id, run.sequence, run.as_of, run.known_on, list(run.rulesets), run.position,
        [stored for _, stored in numbered],
        [o for o in run.overpayments if o.get("provider") == provider],
        totals(lines, "provider"), totals(lines, "site"),
        sum((line.amount for line in lines), Decimal("0.00")), run.digest,
        [n for n, _ in numbered], getattr(run, "chain", None))


def line_provider(run: PaymentRun.Taken, number: int) -> str | None | bool:
    """The provider of line ``number`` (1 = first) of ``run``; ``False`` when there is none."""
    if not 1 <= number <= len(run.lines):
        return False
    return _provider_of(run.lines[number - 1])


VIEW_FILTERS = ("provider", "site", "outcome", "kind")
_KEPT_VIEWS = 8


@dataclass(frozen=True)
class RunView:
    """A run as one provider (or everyone) sees it, with each line as the contract's line
    object and its number in the whole run, and the values each filter can take."""

    run: ScopedRun
    rows: list[dict[str, Any]]
    options: dict[str, list[str]]


def run_view(ledger: Ledger, run: PaymentRun.Taken | PaymentRun, provider: str | None,
             recorded: bool = True) -> RunView:
    """:func:`scope_run` with its lines as objects. A recorded run's view is kept (a few, the
    latest used) while runs are remembered (:func:`ledger.runs.remember_runs`); a preview's is
    not, since it is no recorded run."""
    kept = ledger.__dict__.get("_run_views") if recorded else None
    if kept is None and recorded and "_kept_runs" in ledger.__dict__:
        kept = ledger.__dict__.setdefault("_run_views", {})
    key = (run.run_id, provider)
    if kept is not None and key in kept:
        kept[key] = kept.pop(key)  # the latest used goes last
        return kept[key]
    scoped = scope_run(run, provider)  # type: ignore[arg-type]
    rows = [{"number": number, **line_json(stored)}
            for number, stored in zip(scoped.numbers, scoped.lines, strict=True)]
    options = {name: sorted({str(row[name]) for row in rows if row.get(name)})
               for name in VIEW_FILTERS}
    view = RunView(scoped, rows, options)
    if kept is not None:
        kept[key] = view
        while len(kept) > _KEPT_VIEWS:
            kept.pop(next(iter(kept)))
    return view
