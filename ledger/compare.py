"""``pbr compare`` in the ledger (RULES.md §11): rulesets worked out on one history, nothing
recorded.

The store is read once: each client's stream is decoded and its history built once, and every
ruleset is derived from that history (in worker processes, by ranges of stream ids, on a large
file database). A ruleset that sets only some outcomes differently from the first derives only
those (:func:`projections.compare.differing_outcomes`). When the first ruleset is the one
published ruleset and the projection tables are current for E and K, its totals are read from
them instead of derived (:func:`projection_tally`).
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from sqlalchemy.engine import create_engine

from ledger.codec import EventDecoder, stream_uuid
from ledger.compare_tables import projection_profiles, projection_tally, reusable_projection
from ledger.events import (
    BenefitsEnded,
    BenefitsStarted,
    Correction,
    Discharged,
    HepbCourseCompleted,
    ProvenOffence,
    ReleasedFromCustody,
)
from ledger.memory import cycle_collection_paused
from ledger.refusals import Refused
from ledger.rulesets import Ruleset, RulesetError, option_rulesets, parse_ruleset
from ledger.store import RECORD_TOPICS_LIKE, Ledger
from ledger.views import (
    PARALLEL_FROM_EVENTS,
    _driver_sql,
    _uuid_param,
    group_streams,
    stream_rows,
    stream_shards,
    worker_count,
)
from projections.cohort import cohort_outcomes
from projections.compare import (
    READ_TOPS,
    Tally,
    any_completion,
    as_if_governing,
    cycles_differ,
    differing_outcomes,
    offences_alone_differ,
    relapse_alone_differs,
    report,
    uncompleted_alike,
    window_alone_differs,
)
from projections.engine import derive_history
from projections.history import build_history
from projections.model import History

UNKNOWN_RULESET = "unknown_ruleset"
BAD_RULESET_FILE = "bad_ruleset_file"
DUPLICATE_RULESET = "duplicate_ruleset_id"
TOO_FEW_RULESETS = "too_few_rulesets"
SHARDS = 16
TOP_TOPIC = "ledger.events:TopRecorded"
OFFENDERS = "offenders"
RELAPSING = "relapsing"
RECYCLED = "recycled"  # whose journeys fall into other recovery cycles under the target
SAME_CYCLES = "same_cycles"  # whose journeys fall into the same cycles under both
COMPLETED = "completed"  # with a journey ended in a successful completion
COMPLETED_SAME_CYCLES = "completed_same_cycles"  # both of the above


def load_rulesets(ledger: Ledger, names: Sequence[str], *, files: bool = True
                  ) -> list[Ruleset]:
    """Each RULESET argument: a path to a TOML file, else a published id (refused otherwise).
    With ``files=False`` (the web view: a name from a form never opens a file of the server)
    each is a published id, else the id of a shipped option (``ledger/data/options``)."""
    if len(names) < 2:
        raise Refused(TOO_FEW_RULESETS, "RULESET: give two or more rulesets to compare")
    published = {ruleset.id: ruleset for ruleset in ledger.rulesets()}
    if not files:
        published = {**{r.id: r for r in option_rulesets()}, **published}
    found: list[Ruleset] = []
    for name in names:
        path = Path(name)
        if files and path.is_file():
            try:
                found.append(parse_ruleset(path.read_text(encoding="utf-8")))
            except (RulesetError, UnicodeDecodeError, OSError) as error:
                raise Refused(BAD_RULESET_FILE, f"{name}: {error}") from None
        elif name in published:
            found.append(published[name])
        else:
            raise Refused(UNKNOWN_RULESET, (
                f"RULESET: {name!r} is neither a ruleset file nor a published ruleset id (see "
                "pbr rules list)") if files else (
                f"ruleset: {name!r} is neither a published ruleset nor a shipped option"))
    ids = [ruleset.id for ruleset in found]
    for ruleset_id in ids:
        if ids.count(ruleset_id) > 1:
            raise Refused(DUPLICATE_RULESET, f"RULESET: the id {ruleset_id!r} is given twice; "
                                             "each compared ruleset needs its own id")
    return found


@dataclass(frozen=True)
class Derivation:
    """One pass of the derivation: ruleset ``source`` (only ``only``'s outcomes, or all), added
    (``sign = 1``) to or taken (``-1``) from the tally of ruleset ``target``."""

    source: int
    only: frozenset[str] | None
    sign: int
    target: int
    # Only some clients can differ (see plan): "offenders" (with a proven offence),
    # "relapsing" (with more than one journey), "recycled" / "same_cycles" (whose journeys
    # fall into other / the same recovery cycles under the first and the target rulesets),
    # "completed" (with a successful completion), "completed_same_cycles" (both); ``None``:
    # every client.
    clients: str | None = None


def plan(rulesets: Sequence[Ruleset], first_known: bool) -> tuple[list[Derivation], set[int]]:
    """The derivations a comparison needs, full ones first; and the rulesets built on the
    first's tally. ``first_known``: the first's tally is read from the projection tables."""
    derivations = [] if first_known else [Derivation(0, None, 1, 0)]
    on_first: set[int] = set()
    for index, ruleset in enumerate(rulesets[1:], start=1):
        only = differing_outcomes(rulesets[0], ruleset)
        beside_window = window_alone_differs(rulesets[0], ruleset)
        if only is None and beside_window is not None:
            # 1.2's window changes the cycles of a few clients (every outcome of theirs
            # derived again) and, for the rest, only the outcomes set differently.
            on_first.add(index)
            rest = (COMPLETED_SAME_CYCLES if uncompleted_alike(rulesets[0], ruleset,
                                                                  beside_window)
                    else SAME_CYCLES)
            derivations += [Derivation(index, None, 1, index, RECYCLED),
                            Derivation(0, None, -1, index, RECYCLED),
                            Derivation(index, beside_window, 1, index, rest),
                            Derivation(0, beside_window, -1, index, rest)]
            continue
        if only is None and relapse_alone_differs(rulesets[0], ruleset):
            on_first.add(index)
            derivations += [Derivation(index, None, 1, index, RELAPSING),
                            Derivation(0, None, -1, index, RELAPSING)]
            continue
        if only is None:
            derivations.append(Derivation(index, None, 1, index))
            continue
        on_first.add(index)
        if only:
            clients = (OFFENDERS if offences_alone_differ(rulesets[0], ruleset, only)
                       else COMPLETED if uncompleted_alike(rulesets[0], ruleset, only)
                       else None)
            derivations += [Derivation(index, only, 1, index, clients),
                            Derivation(0, only, -1, index, clients)]
    derivations.sort(key=lambda d: d.only is not None)
    return derivations, on_first


def _uses_cohort(ruleset: Ruleset, only: frozenset[str] | None) -> bool:
    return any(getattr(ruleset.outcomes, name) is not None
               and getattr(ruleset.outcomes, name).measure == "cohort"
               and (only is None or name in only)
               for name in ("offending_initial", "offending_final"))


def tally_histories(histories: Iterator[History], rulesets: Sequence[Ruleset],
                    derivations: Sequence[Derivation], keep: bool,
                    profiles: dict | None = None) -> tuple[list[Tally], list[History]]:
    """Each derivation's tally over the histories, each history derived once per ruleset at
    most (a partial derivation of a ruleset derived in full is a filter of it)."""
    tallies = [Tally() for _ in derivations]
    kept: list[History] = []
    for history in histories:
        full: dict[int, Sequence] = {}
        for tally, derivation in zip(tallies, derivations, strict=True):
            if not _can_differ(derivation, history, rulesets):
                continue  # worked out alike by both rulesets: the difference is nothing
            ruleset = rulesets[derivation.source]
            if derivation.source in full:
                results = [r for r in full[derivation.source]
                           if derivation.only is None or r.outcome in derivation.only]
            elif derivation.only is None:
                results = full[derivation.source] = derive_history(history, [ruleset]).outcomes
            else:
                results = derive_history(history, [ruleset], derivation.only).outcomes
            tally.add_client(history, results, ruleset,
                             derivation.only is None and derivation.clients is None, profiles)
        if keep:
            history.clocks.clear()
            kept.append(history)
    return tallies, kept


def _can_differ(derivation: Derivation, history: History, rulesets: Sequence[Ruleset]
                ) -> bool:
    clients = derivation.clients
    if clients == OFFENDERS:
        return bool(history.offences)
    if clients == RELAPSING:
        return len(history.journeys) > 1
    if clients in (COMPLETED, COMPLETED_SAME_CYCLES) and not any_completion(history):
        return False
    if clients in (RECYCLED, SAME_CYCLES, COMPLETED_SAME_CYCLES):
        differ = cycles_differ(history, rulesets[0], rulesets[derivation.target])
        return differ if clients == RECYCLED else not differ
    return True


DISCHARGED_TOPIC = get_topic(Discharged)
CORRECTION_TOPIC = get_topic(Correction)
COMPLETIONS = frozenset({"completed_drug_free", "completed_occasional_user"})  # RULES.md §2
# The clients a restricted derivation can differ for, found by their stored records before any
# is decoded: a superset (any such record stored, retracted or not), each history then checked
# exactly (:func:`_can_differ`). Kind: (topic, least number of its records).
_MARKS = {
    OFFENDERS: ("ledger.events:ProvenOffence", 1),
    RELAPSING: ("ledger.events:TreatmentStarted", 2),
    # A discharge that may be a successful completion (its reason one, or a correction
    # stored that could make it one); a journey ended by a death alone is none.
    COMPLETED: (DISCHARGED_TOPIC, 1),
}


FINAL_ALONE = frozenset({"drug_free_final"})
# What 1.2 never reads (RULES.md §4: a successful completion, then no re-presentation — a new
# journey or a caseload entry — nor death in the window; 18 or over at the start).
FINAL_UNREAD = frozenset(get_topic(kind) for kind in (
    ProvenOffence, ReleasedFromCustody, HepbCourseCompleted, BenefitsEnded, BenefitsStarted))


def _asked_as(kind: str | None) -> str | None:
    """The kind whose records find the clients of ``kind`` (:data:`_MARKS`); ``None``: any
    client can differ."""
    kind = {RECYCLED: RELAPSING, COMPLETED_SAME_CYCLES: COMPLETED}.get(kind, kind)
    return kind if kind in _MARKS else None


@dataclass(frozen=True)
class Reading:
    """Which rows the derivations need: the streams of clients of ``kinds`` (see
    :class:`Derivation`), and the TOPs of those of ``top_kinds`` (``None``: every stream's,
    read in the one scan)."""

    kinds: frozenset[str | None]
    top_kinds: frozenset[str | None] | None
    # Whether a stream read without its TOPs is read without the records 1.2 never reads
    # either: every derivation of it is of 1.2 alone, the profiles known.
    lean: bool = False

    @property
    def completions(self) -> bool:
        """Whether some derivation is of the clients with a successful completion only."""
        return any(_asked_as(kind) == COMPLETED for kind in self.kinds)

    def wants(self, rows: list[tuple], decoder: EventDecoder) -> tuple[bool, bool]:
        """Whether a stream with these stored records is read, and its TOPs with it."""
        topics = Counter(row[0] for row in rows)
        if self.completions and topics[DISCHARGED_TOPIC] and not _may_complete(
                rows, topics, decoder):
            topics[DISCHARGED_TOPIC] = 0  # no discharge can be a successful completion

        def any_of(kinds: frozenset[str | None]) -> bool:
            return any(_is_marked(kind, topics) for kind in kinds)
        read = any_of(self.kinds)
        return read, read and self.top_kinds is not None and any_of(self.top_kinds)


def _may_complete(rows: list[tuple], topics: Counter, decoder: EventDecoder) -> bool:
    """Whether one of a stream's discharges may be a successful completion: its reason is one,
    or a correction is stored (it could change a reason). Only the discharges are decoded."""
    return bool(topics[CORRECTION_TOPIC]) or any(
        decoder.decode(row[0], stream_uuid(row[1]), row[2], row[3]).reason in COMPLETIONS
        for row in rows if row[0] == DISCHARGED_TOPIC)


def _is_marked(kind: str | None, topics: Counter) -> bool:
    asked = _asked_as(kind)
    if asked is None:
        return True
    topic, least = _MARKS[asked]
    return topics[topic] >= least


def reading(derivations: Sequence[Derivation], profiles_known: bool) -> Reading:
    """The clients each derivation can differ for; the TOPs only of those a derivation
    reading them can differ for, when the profiles are known
    (:data:`projections.compare.READ_TOPS`)."""
    kinds = frozenset(d.clients for d in derivations)
    top_kinds = frozenset(d.clients for d in derivations if _reads_tops(d))
    if any(_asked_as(kind) is None for kind in top_kinds):
        return Reading(kinds, None)
    if profiles_known:
        lean = all(d.only == FINAL_ALONE for d in derivations if not _reads_tops(d))
        return Reading(kinds, top_kinds, lean)
    if {_asked_as(kind) for kind in kinds} <= {_asked_as(kind) for kind in top_kinds}:
        # Every client read is read with its TOPs (its profile comes from its history), so
        # they are asked for only of those clients, not read of every client and dropped.
        return Reading(kinds, top_kinds)
    return Reading(kinds, None)


def _rows(connection: Any, lo: UUID, hi: UUID | None, head: int) -> Iterator[list]:
    """The record events of a range of streams (:func:`ledger.views.stream_rows`) but the
    TOPs, a page at a time: nothing derived reads them."""
    sql = ("SELECT topic, originator_id, originator_version, state FROM ledger_events "
           "WHERE originator_id >= ? " + ("AND originator_id < ? " if hi is not None else "")
           + "AND id <= ? AND topic LIKE ? AND topic <> ? "
           "ORDER BY originator_id, originator_version")
    params = [_uuid_param(connection, lo)] + ([_uuid_param(connection, hi)] if hi else [])
    result = connection.exec_driver_sql(_driver_sql(connection, sql), (
        *params, head, RECORD_TOPICS_LIKE, TOP_TOPIC))
    return iter(lambda: result.fetchmany(5000), [])


def _flat(pages: Iterator[list]) -> Iterator[tuple]:
    for page in pages:
        yield from page


def _histories(decoder: EventDecoder, rows: Iterator[tuple], as_of: date,
               known_on: date) -> Iterator[History]:
    for events in group_streams(decoder, rows):
        history = build_history(events, known_on, as_of)
        if history is not None:
            yield history


_inherited: dict[str, Any] = {}  # what a forked compare worker takes from its parent


def _shard_in_worker(job: tuple) -> tuple[list[Tally], list[History]]:
    lo, hi, head, as_of, known_on, rulesets, derivations, keep = job
    if "engine" not in _inherited:
        gc.freeze()
        gc.enable()
        _inherited["engine"] = create_engine(_inherited["url"])
    profiles = _inherited.get("profiles")
    with _inherited["engine"].connect() as connection:
        rows = _shard_rows(connection, lo, hi, head, _inherited["reading"],
                           _inherited["decoder"])
        return tally_histories(_histories(_inherited["decoder"], rows, as_of, known_on),
                               rulesets, derivations, keep, profiles)


def _shard_rows(connection: Any, lo: UUID, hi: UUID | None, head: int, read: Reading,
                decoder: EventDecoder) -> Iterator[tuple]:
    """The rows ``read`` names of a range of streams: those of other streams, and the TOPs of
    streams whose TOPs are not needed, are never decoded (nor, those TOPs, read)."""
    if read.top_kinds is None:
        rows = stream_rows(connection, lo, hi, head)
        if any(_asked_as(kind) is None for kind in read.kinds):
            return rows
        return _chosen(_grouped(rows), read, decoder, None)
    return _chosen(_grouped(_flat(_rows(connection, lo, hi, head))), read, decoder,
                   lambda streams: _top_rows(connection, streams, head))


def _grouped(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    """Rows ordered by stream, a stream's at a time."""
    held: list[tuple] = []
    for row in rows:
        if held and row[1] != held[0][1]:
            yield held
            held = []
        held.append(row)
    if held:
        yield held


def _chosen(streams: Iterator[list[tuple]], read: Reading, decoder: EventDecoder,
            tops: Callable[[list], dict[Any, list[tuple]]] | None) -> Iterator[tuple]:
    """The rows of the streams ``read`` wants, with their TOPs (asked by ``tops`` for a
    batch of streams at a time) when it wants them too."""
    batch: list[tuple[list[tuple], bool]] = []
    for rows in streams:
        wanted, with_tops = read.wants(rows, decoder)
        if wanted and read.lean and not with_tops:
            rows = [row for row in rows if row[0] not in FINAL_UNREAD]
        if wanted:
            batch.append((rows, with_tops and tops is not None))
        if len(batch) >= 500:
            yield from _with_tops(batch, tops)
            batch = []
    yield from _with_tops(batch, tops)


def _with_tops(batch: list[tuple[list[tuple], bool]],
               tops: Callable[[list], dict[Any, list[tuple]]] | None) -> Iterator[tuple]:
    found = tops([rows[0][1] for rows, wanted in batch if wanted]) if tops else {}
    for rows, _ in batch:
        extra = found.get(rows[0][1])
        yield from sorted(rows + extra, key=_version) if extra else rows


def _top_rows(connection: Any, streams: list, head: int) -> dict[Any, list[tuple]]:
    """The TOP records of ``streams`` (ids as the driver gives them), by stream."""
    found: dict[Any, list[tuple]] = {}
    if not streams:
        return found
    sql = ("SELECT topic, originator_id, originator_version, state FROM ledger_events "
           f"WHERE originator_id IN ({', '.join('?' for _ in streams)}) AND id <= ? "
           "AND topic = ?")
    for row in connection.exec_driver_sql(_driver_sql(connection, sql),
                                          (*streams, head, TOP_TOPIC)):
        found.setdefault(row[1], []).append(row)
    return found


def _version(row: tuple) -> int:
    return row[2]


def _pool(ledger: Ledger, decoder: EventDecoder, workers: int, profiles: dict | None,
          read: Reading) -> Any:
    """Forked workers; they inherit the decoder, the known profiles and the rows to read,
    and open their own connections by URL."""
    _inherited.clear()
    _inherited.update(url=ledger.datastore.engine.url.render_as_string(hide_password=False),
                      decoder=decoder, reading=read)
    if profiles is not None:
        _inherited["profiles"] = profiles
    return multiprocessing.get_context("fork").Pool(workers)


def _can_fork(ledger: Ledger) -> bool:
    url = ledger.datastore.engine.url
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    return not in_memory and "fork" in multiprocessing.get_all_start_methods()


def derive_tallies(ledger: Ledger, rulesets: Sequence[Ruleset],
                   derivations: Sequence[Derivation], as_of: date, known_on: date,
                   workers: int | None = None, profiles: dict | None = None,
                   meanwhile: Callable[[], None] = lambda: None) -> list[Tally]:
    """Each derivation's tally over every client, cohorts included, reading the store once.

    With ``profiles`` (every journey's, from the projection tables), the TOP records are read
    only of the clients a derivation of an outcome that reads them can differ for (none at
    all when no derived outcome reads one). ``meanwhile`` runs in this process while the
    workers derive (reading the projection tables, say).
    """
    if not derivations:
        meanwhile()
        return []
    head = ledger.max_position()
    decoder = EventDecoder(ledger.mapper)
    keep = any(_uses_cohort(rulesets[d.source], d.only) for d in derivations)
    workers = workers or worker_count()
    parallel = _can_fork(ledger) and workers > 1 and head >= PARALLEL_FROM_EVENTS
    tallies = [Tally() for _ in derivations]
    histories: list[History] = []
    jobs = [(lo, hi, head, as_of, known_on, list(rulesets), list(derivations), keep)
            for lo, hi in stream_shards(SHARDS if parallel else 1)]
    read = reading(derivations, profiles is not None)
    if read.top_kinds is None:
        profiles = None  # every TOP read: each profile comes from its history
    with _pool(ledger, decoder, workers, profiles, read) if parallel else nullcontext() \
            as pool:
        if pool is not None:
            parts: Iterator = pool.imap_unordered(_shard_in_worker, jobs)
            meanwhile()
        else:
            meanwhile()
            parts = iter([_in_process(ledger, decoder, job, profiles, read)
                          for job in jobs])
        for shard_tallies, shard_histories in parts:
            tallies = [mine.combine(theirs) for mine, theirs in zip(tallies, shard_tallies,
                                                                    strict=True)]
            histories += shard_histories
    for tally, derivation in zip(tallies, derivations, strict=True):
        ruleset = rulesets[derivation.source]
        if keep and _uses_cohort(ruleset, derivation.only):
            tally.add_cohorts([r for r in cohort_outcomes(histories, [ruleset], as_of)
                               if derivation.only is None or r.outcome in derivation.only],
                              as_of)
    return tallies


def _in_process(ledger: Ledger, decoder: EventDecoder, job: tuple, profiles: dict | None,
                read: Reading) -> tuple[list[Tally], list[History]]:
    lo, hi, head, as_of, known_on, rulesets, derivations, keep = job
    with ledger.datastore.transaction(commit=False) as session:
        rows = _shard_rows(session.connection(), lo, hi, head, read, decoder)
        return tally_histories(_histories(decoder, rows, as_of, known_on), rulesets,
                               derivations, keep, profiles)


def _reads_tops(derivation: Derivation) -> bool:
    return derivation.only is None or bool(derivation.only & READ_TOPS)


def _spares_tops(derivations: Sequence[Derivation]) -> bool:
    """Whether, the profiles known, some client's TOP records need not be read: a derivation
    reading none can differ for clients beyond those a derivation reading them can."""
    with_tops = {_asked_as(d.clients) for d in derivations if _reads_tops(d)}
    without = {_asked_as(d.clients) for d in derivations if not _reads_tops(d)}
    return None not in with_tops and bool(without - with_tops)


@cycle_collection_paused()
def compare(ledger: Ledger, rulesets: Sequence[Ruleset], as_of: date, known_on: date,
            workers: int | None = None) -> dict:
    """RULES.md §11: the comparison document (CONTRACT.md ``pbr compare --json``)."""
    governing = [as_if_governing(ruleset) for ruleset in rulesets]
    projection = reusable_projection(ledger, rulesets[0], as_of, known_on)
    derivations, on_first = plan(governing, projection is not None)
    from_tables = [d for d in derivations
                   if projection is not None and d.source == 0 and d.clients is None]
    to_derive = [d for d in derivations if d not in from_tables]
    profiles = None
    if projection is not None and _spares_tops(to_derive):
        profiles = projection_profiles(projection)
    read: dict[Derivation | None, Tally] = {}

    def read_tables() -> None:
        if projection is not None:
            read[None] = projection_tally(projection, as_of)
            for derivation in from_tables:
                read[derivation] = projection_tally(projection, as_of, derivation.only)

    derived_tallies = iter(derive_tallies(ledger, governing, to_derive, as_of, known_on,
                                          workers, profiles, read_tables))
    derived = [read[d] if d in from_tables else next(derived_tallies) for d in derivations]
    first = read[None] if projection is not None else next(
        tally for tally, d in zip(derived, derivations, strict=True)
        if d.target == 0 and d.only is None)
    tallies = []
    for index in range(len(rulesets)):
        tally = first if index == 0 or index in on_first else Tally()
        for part, derivation in zip(derived, derivations, strict=True):
            if derivation.target == index and index:
                tally = tally.combine(part, derivation.sign)
        tallies.append((rulesets[index], tally))
    document = report(tallies, as_of, known_on)
    document["first_from_projection"] = projection is not None
    return document
