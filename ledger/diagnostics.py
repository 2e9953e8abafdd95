"""``pbr diagnostics`` as a service (RULES.md §10): read the ledger, diagnose, flag.

The ledger's record streams are read in bulk, a range of stream ids at a time (as a projection
rebuild reads them; in forked workers on a file or server database); each client's history is
built as of each period's last day, known on K, and tallied by the pure
:mod:`projections.diagnostics`. Only the tallies travel back, and they add up to the groups,
which are then flagged (:mod:`projections.diagnostic_flags`). Nothing is recorded.
:func:`diagnostics_document` is CONTRACT.md's ``pbr diagnostics --json`` document, which the
command prints and the web view's page shows.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from sqlalchemy import create_engine

from ledger.baselines import Baseline, read_baseline
from ledger.codec import EventDecoder
from ledger.events import (
    BenefitsEnded,
    BenefitsStarted,
    HepbCourseCompleted,
    ProvenOffence,
    RecordEvent,
    ReleasedFromCustody,
)
from ledger.rulesets import Ruleset
from ledger.store import Ledger
from ledger.views import SHARDS, group_streams, stream_rows, stream_shards, worker_count
from projections.diagnostic_flags import Flag, group_flags
from projections.diagnostics import (
    Group,
    Period,
    Tallies,
    group_tallies,
    indicators,
    tally_history,
)
from projections.history import build_history

PARALLEL_FROM_EVENTS = 50_000  # below this one process reads and tallies everything
# Records no indicator reads (offences, releases, hepatitis B courses, benefits): not even
# decoded. A correction naming one of them then retracts nothing the diagnostics hold.
UNREAD = tuple(get_topic(kind) for kind in (ProvenOffence, ReleasedFromCustody,
                                            HepbCourseCompleted, BenefitsEnded,
                                            BenefitsStarted))


@dataclass(frozen=True)
class Diagnosis:
    """One period's diagnostics: every group, each with its flags."""

    period: Period
    known_on: date
    groups: list[Group]
    flags: list[list[Flag]]


SiteTallies = dict[str, Tallies]


def tally_streams(streams: Iterable[Sequence[RecordEvent]], periods: Sequence[Period],
                  known_on: date, rulesets: list[Ruleset]) -> list[SiteTallies]:
    """Per period, each site's tallies: every client's history as of the period's last day."""
    found: list[SiteTallies] = [{} for _ in periods]
    for events in streams:
        for tallies, period in zip(found, periods, strict=True):
            history = build_history(events, known_on, period.end)
            if history is not None:
                tally_history(history, rulesets, period,
                              into=tallies.setdefault(history.site, Tallies()))
    return found


def diagnose_ledger(ledger: Ledger, periods: Sequence[Period], known_on: date,
                    baseline: Baseline) -> list[Diagnosis]:
    """Each period's diagnostics as known on ``known_on`` (records received by then)."""
    rulesets = ledger.rulesets()
    merged: list[SiteTallies] = [{} for _ in periods]
    for part in _tallies(ledger, list(periods), known_on, rulesets):
        for into, tallies in zip(merged, part, strict=True):
            for site, site_tallies in tallies.items():
                into.setdefault(site, Tallies()).merge(site_tallies)
    found = []
    for period, tallies in zip(periods, merged, strict=True):
        groups = group_tallies(tallies.items())
        flags = group_flags(groups, baseline, period.days)
        found.append(Diagnosis(period, known_on, groups, flags))
    return found


def _tallies(ledger: Ledger, periods: list[Period], known_on: date,
             rulesets: list[Ruleset]) -> Iterator[list[SiteTallies]]:
    """The tallies of every range of streams: in worker processes when the ledger is large
    and in a file or server database, else here."""
    try:
        decoder = EventDecoder(ledger.mapper)
    except TypeError:  # encrypted or compressed: the library's own mapper decodes each event
        streams = ledger.records_by_client(known_on)[0].values()
        yield tally_streams(streams, periods, known_on, rulesets)
        return
    head = ledger.max_position()
    url = ledger.datastore.engine.url
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    workers = worker_count()
    if in_memory or workers < 2 or head < PARALLEL_FROM_EVENTS or \
            "fork" not in multiprocessing.get_all_start_methods():
        def read(lo: UUID, hi: UUID | None, end: int) -> Iterator[tuple]:
            with ledger.datastore.transaction(commit=False) as session:
                yield from stream_rows(session.connection(), lo, hi, end, UNREAD)
        yield _shard(read, decoder, UUID(int=0), None, head, periods, known_on, rulesets)
        return
    _inherited.clear()
    _inherited.update(url=url.render_as_string(hide_password=False), decoder=decoder)
    jobs = [(lo, hi, head, periods, known_on, rulesets) for lo, hi in stream_shards(SHARDS)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap_unordered(_shard_in_worker, jobs)


def _shard(read: Callable[[UUID, UUID | None, int], Iterator[tuple]], decoder: EventDecoder,
           lo: UUID, hi: UUID | None, head: int, periods: list[Period], known_on: date,
           rulesets: list[Ruleset]) -> list[SiteTallies]:
    return tally_streams(group_streams(decoder, read(lo, hi, head)), periods, known_on,
                         rulesets)


_inherited: dict[str, Any] = {}  # what a forked worker takes from its parent


def _shard_in_worker(job: tuple) -> list[SiteTallies]:
    """A worker: its own connection to the database, one range of streams at a time."""
    if "engine" not in _inherited:
        _inherited["engine"] = create_engine(_inherited["url"])

    def read(lo: UUID, hi: UUID | None, head: int) -> Iterator[tuple]:
        with _inherited["engine"].connect() as connection:
            yield from stream_rows(connection, lo, hi, head, UNREAD)

    return _shard(read, _inherited["decoder"], *job)


def flag_json(flag: Flag) -> dict[str, Any]:
    return {"indicator": flag.indicator, "value": flag.value, "bound": flag.bound,
            "concern": flag.concern, "basis": flag.basis, "side": flag.side,
            "source": flag.source, "judgement": flag.judgement}


def groups_json(diagnosis: Diagnosis) -> list[dict[str, Any]]:
    """CONTRACT.md's ``groups``: level, site, provider, indicators and flags."""
    return [{"level": group.level, "site": group.site, "provider": group.provider,
             "indicators": indicators(group.tally), "flags": [flag_json(f) for f in flags]}
            for group, flags in zip(diagnosis.groups, diagnosis.flags, strict=True)]


def diagnostics_json(found: list[Diagnosis], baseline: Baseline, by_quarter: bool,
                     ) -> dict[str, Any]:
    first, last = found[0], found[-1]
    document: dict[str, Any] = {"from": first.period.start, "to": last.period.end,
                                "known_on": first.known_on, "baseline": baseline.id,
                                "min_denominator": baseline.min_denominator}
    if by_quarter:
        document["quarters"] = [{"from": d.period.start, "to": d.period.end,
                                 "groups": groups_json(d)} for d in found]
    else:
        document["groups"] = groups_json(first)
    return document


def diagnostics_document(ledger: Ledger, periods: list[Period], known_on: date,
                         baseline: Baseline | None = None, by_quarter: bool = False,
                         ) -> dict[str, Any]:
    """The ``pbr diagnostics --json`` document of ``periods`` (one, or the quarters with
    ``by_quarter``), known on ``known_on``, against ``baseline`` (default: the shipped one).
    The command prints it; the web view's page and the demo's report show it."""
    baseline = baseline or read_baseline(None)
    found = diagnose_ledger(ledger, periods, known_on, baseline)
    return diagnostics_json(found, baseline, by_quarter)
