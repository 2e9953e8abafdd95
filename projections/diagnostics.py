"""Diagnostics: perverse incentives, seen early (RULES.md §10). Pure: no storage, no clock.

For a period ``[from, to]`` as known on K, each client's history (built as of ``to``) is
tallied per provider of its journeys: starts, band mix, discharges, completions, drop-outs,
declines, parked journeys, deaths, review abstinence, pairs of reviews near the minimum gap, and
re-presentations after completions. Tallies add up per provider, per site and overall, and
become the indicators; :mod:`projections.diagnostic_flags` compares them with a baseline and
with each site's other providers. Decisions are numbered as in ``docs/diagnostics.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledger.durations import months
from ledger.rulesets import Ruleset, select_ruleset
from projections import treatment
from projections.model import History, Journey, Status
from projections.reviews import first_qualifying_pair, reviews

RATE_PLACES = Decimal("0.0001")
TWELVE_MONTHS = months(12)
NEAR_GAP_DAYS = 7  # RULES.md §10: "less than min_review_gap + 7d apart"


@dataclass(frozen=True)
class Period:
    """The period diagnostics cover: ``[start, end]``, both days included (RULES.md §10)."""

    start: date
    end: date

    def holds(self, day: date | None) -> bool:
        return day is not None and self.start <= day <= self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass
class Tally:
    """What one group's journeys add up to; every indicator is read from these counts."""

    starts: int = 0
    band_1: int = 0
    band_2: int = 0
    band_3: int = 0
    discharges: int = 0
    completions: int = 0
    dropped_out: int = 0
    declined: int = 0
    parked: int = 0
    long_open: int = 0  # journeys open on `to` that started on or before `to - 12m`
    deaths: int = 0
    open_in_period: int = 0
    reviews_recorded: int = 0
    reviews_abstinent: int = 0
    pairs: int = 0
    pairs_near_gap: int = 0
    completions_before: int = 0
    represented: int = 0

    def add(self, other: Tally) -> None:
        for name in _TALLY_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


_TALLY_FIELDS = tuple(item.name for item in fields(Tally))


@dataclass
class Tallies:
    """One history's tallies: per provider of its journeys, and a death with no journey."""

    by_provider: dict[str, Tally] = field(default_factory=dict)
    unattributed: Tally = field(default_factory=Tally)  # a death of a client with no journey

    def of(self, provider: str) -> Tally:
        return self.by_provider.setdefault(provider, Tally())

    def merge(self, other: Tallies) -> None:
        """Add another history's (or another shard's) tallies of the same site."""
        for provider, tally in other.by_provider.items():
            self.of(provider).add(tally)
        self.unattributed.add(other.unattributed)


def rate(numerator: int, denominator: int, per: int = 1) -> Decimal | None:
    """RULES.md §10: a rate to 4 places (half up); a zero denominator gives null, never 0."""
    if denominator == 0:
        return None
    return (Decimal(numerator * per) / Decimal(denominator)).quantize(RATE_PLACES, ROUND_HALF_UP)


def indicators(tally: Tally) -> dict[str, Any]:
    """RULES.md §10's table, from one group's tally (with ``parked_rate``, decision 3)."""
    banded = tally.band_1 + tally.band_2 + tally.band_3
    return {
        "starts": tally.starts,
        "band_mix": {"1": rate(tally.band_1, banded), "2": rate(tally.band_2, banded),
                     "3": rate(tally.band_3, banded)},
        "discharges": tally.discharges,
        "completion_rate": rate(tally.completions, tally.discharges),
        "drop_out_rate": rate(tally.dropped_out, tally.discharges),
        "declined_rate": rate(tally.declined, tally.discharges),
        "parked": tally.parked,
        "parked_rate": rate(tally.parked, tally.long_open),
        "deaths_per_1000": rate(tally.deaths, tally.open_in_period, per=1000),
        "abstinent_at_review": rate(tally.reviews_abstinent, tally.reviews_recorded),
        "pairs_near_min_gap": rate(tally.pairs_near_gap, tally.pairs),
        "representation_rate": rate(tally.represented, tally.completions_before),
    }


def denominators(tally: Tally) -> dict[str, int]:
    """Each bounded indicator's denominator (flags need enough cases, decision 6)."""
    banded = tally.band_1 + tally.band_2 + tally.band_3
    return {"band_mix.1": banded, "band_mix.2": banded, "band_mix.3": banded,
            "completion_rate": tally.discharges, "drop_out_rate": tally.discharges,
            "declined_rate": tally.discharges, "parked_rate": tally.long_open,
            "deaths_per_1000": tally.open_in_period,
            "abstinent_at_review": tally.reviews_recorded, "pairs_near_min_gap": tally.pairs,
            "representation_rate": tally.completions_before}


# One journey's part ---------------------------------------------------------------------------


def count_start(tally: Tally, journey: Journey, period: Period) -> None:
    """``starts`` and ``band_mix``: journeys started in the period; bands among those that
    record one (decision 2)."""
    if not period.holds(journey.started_on):
        return
    tally.starts += 1
    band = journey.lasars_band
    if band in (1, 2, 3):
        setattr(tally, f"band_{band}", getattr(tally, f"band_{band}") + 1)


def count_discharge(tally: Tally, journey: Journey, period: Period) -> None:
    """``discharges`` (a death closing the journey counts, reason ``died``), and the successful
    completions (§2), drop-outs and declines among them."""
    if not period.holds(journey.discharged_on):
        return
    tally.discharges += 1
    tally.completions += treatment.is_successful_completion(journey)
    tally.dropped_out += journey.discharge_reason == "dropped_out"
    tally.declined += journey.discharge_reason == "declined"


def is_long_open(journey: Journey, period: Period) -> bool:
    """Open on ``to`` (not discharged on or before it) and started on or before ``to - 12m``."""
    return journey.is_open_on(period.end) and \
        journey.started_on <= TWELVE_MONTHS.before(period.end)


def shows_progress(history: History, journey: Journey, ruleset: Ruleset) -> bool:
    """``parked``: a qualifying pair up to ``to`` for any of 1.1, 4.1 and 4.4 that the journey
    is eligible for and its ruleset switches on (decision 4). The history is as of ``to``, so
    only reviews up to ``to`` count."""
    outcomes = ruleset.outcomes
    if outcomes.drug_free_initial is not None:
        substances = treatment.measured_substances(journey)
        condition = treatment.abstinent(substances, outcomes.drug_free_initial.alcohol_max_days)
        if substances and first_qualifying_pair(journey, condition, ruleset.min_review_gap):
            return True
    for outcome, rule in (("injecting", treatment.injecting), ("wellbeing", treatment.wellbeing)):
        if getattr(outcomes, outcome) is not None and \
                rule(history, journey, ruleset, history.as_of).status is Status.ACHIEVED:
            return True
    return False


def count_parked(tally: Tally, history: History, journey: Journey, ruleset: Ruleset | None,
                 period: Period) -> None:
    """``parked``: in treatment a year or more on ``to``, with no progress (decisions 3, 4)."""
    if ruleset is None or not is_long_open(journey, period):
        return
    tally.long_open += 1
    tally.parked += not shows_progress(history, journey, ruleset)


def count_open(tally: Tally, journey: Journey, period: Period) -> None:
    """``deaths_per_1000``'s denominator: open at any time in the period (started on or before
    ``to``, not discharged before ``from``)."""
    if journey.started_on <= period.end and (journey.discharged_on is None
                                             or journey.discharged_on >= period.start):
        tally.open_in_period += 1


def count_reviews(tally: Tally, journey: Journey, period: Period) -> None:
    """``abstinent_at_review``: review TOPs dated in the period that record every listed
    presenting substance, and those recording 0 days of each (strictly 0: decision 5)."""
    substances = treatment.measured_substances(journey)
    if not substances:
        return
    for top in reviews(journey):
        if not period.holds(top.on):
            continue
        days = [top.days_used.get(s) for s in substances]
        if all(d is not None for d in days):
            tally.reviews_recorded += 1
            tally.reviews_abstinent += all(d == 0 for d in days)


def count_pair_gap(tally: Tally, journey: Journey, ruleset: Ruleset | None,
                   period: Period) -> None:
    """``pairs_near_min_gap``: the journey's first qualifying pair for 1.1 has r2 dated in the
    period; near when ``r2 < r1 + min_review_gap + 7d``."""
    params = None if ruleset is None else ruleset.outcomes.drug_free_initial
    substances = treatment.measured_substances(journey)
    if params is None or not substances:
        return
    pair = first_qualifying_pair(journey, treatment.abstinent(substances,
                                                              params.alcohol_max_days),
                                 ruleset.min_review_gap)
    if pair is None or not period.holds(pair[1].on):
        return
    first, second = pair
    tally.pairs += 1
    tally.pairs_near_gap += second.on < ruleset.min_review_gap.after(first.on) + \
        timedelta(days=NEAR_GAP_DAYS)


def represented_by(history: History, journey: Journey, last_day: date) -> bool:
    """§2: a re-presentation after the discharge on D, dated from D up to ``last_day``."""
    ended = journey.discharged_on
    assert ended is not None
    return any(j is not journey and ended <= j.started_on <= last_day
               for j in history.journeys) or \
        any(ended <= entry.on <= last_day for entry in history.caseload_entries)


def count_representation(tally: Tally, history: History, journey: Journey,
                         period: Period) -> None:
    """``representation_rate``: successful completions dated in ``[from - 12m, from)``, and
    those followed by a re-presentation dated on or before ``to``."""
    ended = journey.discharged_on
    if ended is None or not TWELVE_MONTHS.before(period.start) <= ended < period.start:
        return
    if not treatment.is_successful_completion(journey):
        return
    tally.completions_before += 1
    tally.represented += represented_by(history, journey, period.end)


# One history's part ---------------------------------------------------------------------------


def tally_history(history: History, rulesets: Sequence[Ruleset], period: Period,
                  into: Tallies | None = None) -> Tallies:
    """RULES.md §10 for one client's history as of ``to``: each journey counted for its
    provider, and the death for the provider of the journey it closes or of the latest one.
    Counted into ``into`` (the site's tallies so far) when given, else into new tallies."""
    tallies = Tallies() if into is None else into
    every = rulesets if isinstance(rulesets, list) else list(rulesets)
    # A journey that ended before `from - 12m` counts for no indicator of the period: not a
    # start, discharge or open journey in it, its reviews are all earlier, and a completion
    # before then is outside representation's year.
    earliest = TWELVE_MONTHS.before(period.start)
    for journey in history.journeys:
        if journey.discharged_on is not None and journey.discharged_on < earliest:
            continue
        tally = tallies.of(journey.provider)
        ruleset = select_ruleset(every, history.site, journey.started_on)
        count_start(tally, journey, period)
        count_discharge(tally, journey, period)
        count_parked(tally, history, journey, ruleset, period)
        count_open(tally, journey, period)
        count_reviews(tally, journey, period)
        count_pair_gap(tally, journey, ruleset, period)
        count_representation(tally, history, journey, period)
    died = history.died
    if died is not None and period.holds(died.on):
        provider = death_provider(history)
        target = tallies.unattributed if provider is None else tallies.of(provider)
        target.deaths += 1
    return tallies


def death_provider(history: History) -> str | None:
    """§10: the provider of the journey the death closes (the latest, when a death closes more
    than one: decision 7), else of the client's latest journey; none without a journey."""
    died = history.died
    closed = [j for j in history.journeys if j.discharge is died]
    candidates = closed or list(history.journeys)
    if not candidates:
        return None
    return max(candidates, key=lambda j: (j.started_on, j.journey)).provider


# Groups ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One row of the diagnostics: a provider in a site, a site, or everything (``all``)."""

    level: str
    site: str | None
    provider: str | None
    tally: Tally


def group_tallies(site_tallies: Iterable[tuple[str, Tallies]]) -> list[Group]:
    """Per provider (within its site: decision 1), per site and overall, in that order: each
    site's providers, then the site, site by site; ``all`` last."""
    providers: dict[tuple[str, str], Tally] = {}
    sites: dict[str, Tally] = {}
    everything = Tally()
    for site, tallies in site_tallies:
        site_tally = sites.setdefault(site, Tally())
        for provider, tally in tallies.by_provider.items():
            providers.setdefault((site, provider), Tally()).add(tally)
            site_tally.add(tally)
        site_tally.add(tallies.unattributed)
    groups: list[Group] = []
    for site in sorted(sites):
        groups += [Group("provider", site, provider, providers[(site, provider)])
                   for s, provider in sorted(providers) if s == site]
        groups.append(Group("site", site, None, sites[site]))
        everything.add(sites[site])
    groups.append(Group("all", None, None, everything))
    return groups


def diagnose(histories: Iterable[History], rulesets: Sequence[Ruleset],
             period: Period) -> list[Group]:
    """RULES.md §10: every group's tally for the period, from histories built as of ``to``."""
    return group_tallies((history.site, tally_history(history, rulesets, period))
                         for history in histories)


def default_period(as_of: date, start: date | None, end: date | None) -> Period:
    """Decision 10: ``[start, end]``, ``end`` by default ``as_of`` and ``start`` by default the
    first day of ``end``'s quarter. The caller refuses a ``start`` after ``end``."""
    end = end or as_of
    if start is None:
        start = date(end.year, (end.month - 1) // 3 * 3 + 1, 1)
    return Period(start, end)


def quarters(start: date, end: date) -> list[Period]:
    """The calendar quarters that ``[start, end]`` touches, each cut to the range
    (``--by-quarter``)."""
    found: list[Period] = []
    first = date(start.year, (start.month - 1) // 3 * 3 + 1, 1)
    while first <= end:
        following = months(3).after(first)
        found.append(Period(max(first, start), min(following - timedelta(days=1), end)))
        first = following
    return found
