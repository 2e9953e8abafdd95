"""Payment runs in the ledger (RULES.md §5, §7): taken, recorded, replayed.

A run is an immutable stream of one event holding its inputs (E, K, the ruleset ids, the store
position of the last event it could see, its sequence number) and its lines and totals.
Replaying a run recomputes it from exactly those inputs — the events up to that position received
on or before K, those rulesets, the runs before it — so later records, corrections, rulesets and
runs change nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from sqlalchemy import text as sql_text

from ledger.chain import head_at
from ledger.codec import EventDecoder
from ledger.dispute_events import upheld_adjustments
from ledger.events import RecordEvent
from ledger.failures import lost_race
from ledger.memory import cycle_collection_paused
from ledger.refusals import Refused
from ledger.rulesets import Ruleset, select_ruleset
from ledger.store import RECORD_TOPICS_LIKE, Ledger
from ledger.views import Projection
from projections.engine import derive_all
from projections.payments import (
    LINE_FIELDS,
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
        # RULES.md §9: the chain's head at ``position``, [position, hex]; runs recorded
        # before the chain have none
        chain: list[Any] | None = None

    def __init__(self, run_id: str, sequence: int, as_of: date, known_on: date,
                 rulesets: list[str], position: int, lines: list[list[Any]],
                 overpayments: list[dict[str, Any]], provider_totals: dict[str, Decimal],
                 site_totals: dict[str, Decimal], total: Decimal, digest: str,
                 chain: list[Any] | None = None) -> None:
        self.run_id, self.sequence, self.as_of, self.known_on = run_id, sequence, as_of, known_on
        self.rulesets, self.position = rulesets, position
        self.lines, self.overpayments = lines, overpayments
        self.provider_totals, self.site_totals = provider_totals, site_totals
        self.total, self.digest, self.chain = total, digest, chain

    @classmethod
    def create_id(cls, run_id: str, **_: Any) -> UUID:
        return uuid5(_RUN_NAMESPACE, run_id)


RUN_TOPIC = "ledger.runs:PaymentRun.Taken"


class RunRefused(Refused):
    """A run that may not be recorded (RULES.md §5: runs only move forward in knowledge)."""


AS_OF_BEFORE_LAST_RUN = "as_of_before_last_run"
KNOWN_ON_BEFORE_LAST_RUN = "known_on_before_last_run"


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
    """Every recorded run, in the order taken (remembered, once :func:`remember_runs` is on)."""
    kept = ledger.__dict__.get("_kept_runs")
    if kept is None:
        return [event for _, event in ledger.notifications(topics=[RUN_TOPIC])]
    after = kept[-1][0] + 1 if kept else 1
    kept.extend(ledger.notifications(start=after, topics=[RUN_TOPIC]))
    return [event for _, event in kept]


def remember_runs(ledger: Ledger) -> None:
    """Keep the runs this ledger object reads decoded, reading only runs recorded since: a
    recorded run never changes. For a long-lived reader (the web view); a command reads once
    and lets a large run go as soon as it can."""
    ledger.__dict__.setdefault("_kept_runs", [])
    ledger.__dict__.setdefault("_run_clients", {})


def _client_lines(ledger: Ledger, run: PaymentRun.Taken, client: str) -> list[int]:
    """The line numbers (1 = first) of ``client`` in ``run``: read from an index of the run
    built once when runs are remembered, else by reading every line."""
    index = ledger.__dict__.get("_run_clients")
    if index is None:
        return [n for n, stored in enumerate(run.lines, start=1)
                if line_json(stored)["client"] == client]
    if run.run_id not in index:
        by_client: dict[str | None, list[int]] = defaultdict(list)
        for number, stored in enumerate(run.lines, start=1):
            by_client[line_json(stored)["client"]].append(number)
        index[run.run_id] = dict(by_client)
    return index[run.run_id].get(client, [])


def recorded_run_positions(ledger: Ledger, upto: int,
                           ) -> list[tuple[int, PaymentRun.Taken | Exception]]:
    """Every run stored at or before ``upto``, with its store position; a run that cannot be
    decoded (its bytes changed) is the error that says why, for ``pbr verify`` to name."""
    found: list[tuple[int, PaymentRun.Taken | Exception]] = []
    for notification in ledger._select_ledger_notifications(1, upto + 1, [RUN_TOPIC]):
        if notification.id > upto:
            break
        try:
            found.append((notification.id, ledger.mapper.to_domain_event(notification)))
        except Exception as error:  # noqa: BLE001 - any failure to decode is the finding
            found.append((notification.id, error))
    return found


def run_head(run: PaymentRun.Taken | PaymentRun) -> tuple[int, str] | None:
    """RULES.md §9: the chain head a run rests on, ``(position, hex)``; ``None`` for a run
    recorded before the chain existed."""
    chain = getattr(run, "chain", None)
    return None if chain is None else (int(chain[0]), str(chain[1]))


def run_lines_hold(run: PaymentRun.Taken) -> bool:
    """RULES.md §9 (``pbr verify``): whether a run's lines as stored now give the digest it
    recorded, and its recorded totals (per provider, per site, in all) are their sums.

    Lines stored as rows (every run recorded now) are digested as stored: a row is exactly
    ``Line.as_row()``, so its line object is ``line_json(row)``, with no ``Line`` built for each
    of a national run's lines. Older runs stored objects: their lines are rebuilt.
    """
    rows = run.lines
    if not all(type(row) is list and len(row) == len(LINE_FIELDS) for row in rows):
        lines = [line_from_json(row) for row in rows]
        return (lines_digest(lines) == run.digest
                and totals(lines, "provider") == dict(run.provider_totals)
                and totals(lines, "site") == dict(run.site_totals)
                and sum((line.amount for line in lines), Decimal("0.00")) == run.total)
    return _rows_digest(rows) == run.digest and _rows_total(rows) == (
        dict(run.provider_totals), dict(run.site_totals), run.total)


def _rows_digest(rows: list[list[Any]]) -> str:
    """:func:`lines_digest` of stored rows (the same bytes, fed the same way)."""
    digest = hashlib.sha256(b"[")
    encode = json.JSONEncoder(sort_keys=True).encode
    # A list is encoded as its items joined by ", " between brackets, exactly as
    # lines_digest feeds them one by one; so ten thousand at a time, brackets dropped.
    for start in range(0, len(rows), 10_000):
        text = encode([line_json(row) for row in rows[start:start + 10_000]])[1:-1].encode()
        digest.update(b", " + text if start else text)
    digest.update(b"]")
    return digest.hexdigest()


def _rows_total(rows: list[list[Any]]) -> tuple[dict[str, Decimal], dict[str, Decimal], Decimal]:
    """Per provider, per site and in all, as :func:`totals` sums lines ("-" for none)."""
    provider_at, site_at, amount_at = (LINE_FIELDS.index(name)
                                       for name in ("provider", "site", "amount"))
    providers: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    sites: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    total = Decimal("0.00")
    for row in rows:
        amount = Decimal(str(row[amount_at]))
        providers[row[provider_at] or "-"] += amount
        sites[row[site_at] or "-"] += amount
        total += amount
    return dict(sorted(providers.items())), dict(sorted(sites.items())), total


def _head_at(ledger: Ledger, position: int) -> list[Any]:
    found = head_at(ledger.datastore.engine, position)
    if found is None:  # a position is always an event's, and every event has its entry
        raise RunRefused("chain_entry_missing", f"the chain has no entry at position "
                                                f"{position}, the run's position: run pbr verify")
    return [found[0], found[1].hex()]


def _inputs(ledger: Ledger, position: int, known_on: date,
            ) -> tuple[dict[str, list[RecordEvent]], list[Adjustment]]:
    """The records up to ``position`` received on or before K, and the upheld adjustments."""
    by_client: dict[str, list[RecordEvent]] = defaultdict(list)
    for event in record_events(ledger, position):
        if event.received_on <= known_on:
            by_client[event.client].append(event)
    return dict(by_client), upheld_adjustments(ledger, position, known_on)


def record_events(ledger: Ledger, position: int) -> Iterator[RecordEvent]:
    """Every record up to ``position``, in the order recorded.

    Read through one plain query of the record topics and decoded in bulk (:mod:`ledger.codec`,
    the same objects the library's mapper builds), as the projection rebuild reads them: a
    replay reads every record of the ledger, and the library's read of each notification costs
    several times the decoding.
    """
    decoder = EventDecoder(ledger.mapper)
    query = sql_text(f"SELECT topic, originator_id, originator_version, state "
                 f"FROM {ledger._events_table.fullname} WHERE id <= :position "
                 "AND topic LIKE :records ORDER BY id")
    with ledger.datastore.transaction(commit=False) as session:
        rows = session.connection().execute(query, {"position": position,
                                                    "records": RECORD_TOPICS_LIKE})
        while page := rows.fetchmany(5000):
            for topic, stream, version, state in page:
                yield decoder.decode(topic, stream, version, state)


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
                                known_on: date, rulesets: list[Ruleset], position: int,
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

    return _lines(found, earlier_lines, paid, upheld_adjustments(ledger, position, known_on),
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


def check_forward(earlier: Sequence[PaymentRun.Taken], as_of: date, known_on: date) -> None:
    """RULES.md §5: a run may not be recorded as of, or known on, a date earlier than the latest
    recorded run's; a preview answers questions about earlier knowledge."""
    if not earlier:
        return
    last = earlier[-1]
    if as_of < last.as_of:
        raise RunRefused(AS_OF_BEFORE_LAST_RUN,
                         f"--as-of: {as_of} is before the last run's date {last.as_of} "
                         f"({last.run_id}); runs only move forward (see --preview)")
    if known_on < last.known_on:
        raise RunRefused(KNOWN_ON_BEFORE_LAST_RUN,
                         f"--known-on: {known_on} is before the last run's knowledge date "
                         f"{last.known_on} ({last.run_id}); runs only move forward in knowledge "
                         "(see --preview)")


@cycle_collection_paused()
def take_run(ledger: Ledger, as_of: date, known_on: date) -> PaymentRun:
    """RULES.md §5: take and record a run as of E known on K, refused unless it moves forward."""
    earlier = recorded_runs(ledger)  # read once: decoding every earlier run is not cheap
    check_forward(earlier, as_of, known_on)
    run = _preview(ledger, as_of, known_on, earlier)
    save_run(ledger, run)
    return run


RUN_TAKEN_CONCURRENTLY = "run_taken_concurrently"


def save_run(ledger: Ledger, run: PaymentRun) -> None:
    """Record a run; refused when another run was recorded while this one was computed (both
    are the next run, the same stream, so only one can be written: the other is refused, not
    recorded over it or after it with lines computed without it)."""
    try:
        ledger.save(run)
    except Exception as error:
        if lost_race(error):
            raise RunRefused(RUN_TAKEN_CONCURRENTLY,
                             f"another payment run ({run.run_id}) was recorded while this one "
                             "was computed; nothing is recorded: take the run again to "
                             "compute it after that one") from None
        raise


@cycle_collection_paused()
def preview_run(ledger: Ledger, as_of: date, known_on: date) -> PaymentRun:
    """The run as of E known on K exactly as it would be recorded next; records nothing."""
    return _preview(ledger, as_of, known_on, recorded_runs(ledger))


def _preview(ledger: Ledger, as_of: date, known_on: date, earlier: list[PaymentRun.Taken],
             ) -> PaymentRun:
    """The next run after the runs ``earlier`` (every recorded run, in order), which it takes
    over: the list is emptied once the lines are computed, so their decoded lines go then."""
    rulesets = ledger.rulesets()
    projection = Projection.existing(ledger)
    if projection is not None and projection.serves(as_of, known_on):
        position = projection.position()
        computed = compute_run_from_projection(ledger, projection, as_of, known_on, rulesets,
                                               position, earlier)
    else:
        position = ledger.max_position()
        computed = compute_run(ledger, as_of, known_on, rulesets, position, earlier)
    sequence = len(earlier) + 1
    earlier.clear()
    lines, overpayments = computed.lines, computed.overpayments
    del computed
    provider_totals, site_totals = totals(lines, "provider"), totals(lines, "site")
    total = sum((line.amount for line in lines), Decimal("0.00"))
    digest = lines_digest(lines)
    # A national run has hundreds of thousands of lines: each is dropped once it is written out.
    lines.reverse()
    stored = [lines.pop().as_row() for _ in range(len(lines))]
    return PaymentRun(
        run_id=f"R{sequence:04d}", sequence=sequence, as_of=as_of, known_on=known_on,
        rulesets=sorted(r.id for r in rulesets), position=position, lines=stored,
        overpayments=overpayments, provider_totals=provider_totals, site_totals=site_totals,
        total=total, digest=digest, chain=_head_at(ledger, position))


def find_run(ledger: Ledger, run_id: str) -> PaymentRun.Taken | None:
    """The run ``run_id``: its own stream read (a run is the one event of a stream named by its
    id), not every run decoded to find it; from the runs kept once :func:`remember_runs` is on."""
    if ledger.__dict__.get("_kept_runs") is not None:
        return next((run for run in recorded_runs(ledger) if run.run_id == run_id), None)
    return next((event for event in ledger.events.get(PaymentRun.create_id(run_id))
                 if isinstance(event, PaymentRun.Taken) and event.run_id == run_id), None)


def _run_context(ledger: Ledger, run: PaymentRun.Taken,
                 ) -> tuple[list[Ruleset], list[PaymentRun.Taken]]:
    """The rulesets a run named and the runs recorded before it: its recorded context."""
    rulesets = [r for r in ledger.rulesets() if r.id in set(run.rulesets)]
    return rulesets, [r for r in recorded_runs(ledger) if r.sequence < run.sequence]


TODAY_BEFORE_KNOWLEDGE = "today_before_knowledge"


def diff_run(ledger: Ledger, run: PaymentRun.Taken, today: date) -> list[dict[str, Any]]:
    """Payments decision 9 and 15: what today's knowledge changes in a run's entitlement lines,
    each with the client's records the run could not see. Adjustments are decisions paid once,
    not derived from records: none is listed (RULES.md §7), whichever run paid it."""
    if today < run.known_on:
        raise Refused(TODAY_BEFORE_KNOWLEDGE, f"--today: {today} is before run {run.run_id}'s "
                                              f"knowledge date {run.known_on}")
    rulesets, earlier = _run_context(ledger, run)
    recomputed = compute_run(ledger, run.as_of, today, rulesets, ledger.max_position(),
                             earlier).lines
    recorded = [line_from_json(row) for row in run.lines]
    differences = diff_lines([line for line in recorded if line.kind != "adjustment"],
                             [line for line in recomputed if line.kind != "adjustment"])
    unseen = records_since(ledger, run)
    for difference in differences:
        difference["records"] = [
            {"source_id": e.source_id, "type": e.type, "received_on": e.received_on}
            for e in unseen.get(difference["client"] or "", [])]
    return differences


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
            "instalment": sample.instalment, "kind": sample.kind, "cohort": sample.cohort,
            "provider": sample.provider, "site": sample.site, "dispute": sample.dispute,
            "recorded": None if old is None else str(old.amount),
            "recomputed": None if new is None else str(new.amount),
            "reason": new.reason if new is not None else "no longer a line of this run"})
    return differences


def replay_differences(recorded: list[Line], recomputed: list[Line], digest: str,
                       ) -> list[dict[str, Any]]:
    """What differs between a run and its replay: each line added, dropped or changed (naming
    the fields that changed), or, when every line agrees, the digest itself."""
    def keyed(lines: list[Line]) -> dict[tuple, Line]:
        return {(*line.key, line.kind, line.dispute): line for line in lines}

    before, after = keyed(recorded), keyed(recomputed)
    differences: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after), key=lambda k: tuple(str(p) for p in k)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        sample = new or old
        assert sample is not None
        fields = ([name for name in LINE_FIELDS if getattr(old, name) != getattr(new, name)]
                  if old is not None and new is not None else [])
        differences.append({
            "client": sample.client, "journey": sample.journey, "outcome": sample.outcome,
            "instalment": sample.instalment, "kind": sample.kind, "cohort": sample.cohort,
            "dispute": sample.dispute,
            "change": "added" if old is None else "dropped" if new is None else "changed",
            "fields": {name: {"recorded": getattr(old, name), "recomputed": getattr(new, name)}
                       for name in fields},
            "recorded": None if old is None else str(old.amount),
            "recomputed": None if new is None else str(new.amount)})
    if not differences and lines_digest(recomputed) != digest:
        differences.append({"change": "digest", "recorded": digest,
                            "recomputed": lines_digest(recomputed)})
    return differences


def entitlement_runs(ledger: Ledger, client: str, outcome: str | None = None,
                     ) -> list[dict[str, Any]]:
    """Every recorded run line of a client's entitlements (optionally one outcome): the run,
    its dates, the line's kind and amount — what paid or clawed back each (RULES.md §5)."""
    found = []
    for run in recorded_runs(ledger):
        for number in _client_lines(ledger, run, client):
            line = line_from_json(run.lines[number - 1])
            if outcome is not None and line.outcome != outcome:
                continue
            found.append({"run": run.run_id, "as_of": run.as_of, "known_on": run.known_on,
                          "line": number, "journey": line.journey, "outcome": line.outcome,
                          "instalment": line.instalment, "kind": line.kind,
                          "amount": line.amount, "provider": line.provider,
                          "dispute": line.dispute})
    return found
