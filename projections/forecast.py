"""Cash-flow forecast for providers (RULES.md §12), and its back-test. Pure: no storage.

For each of the N payment periods after E's, per provider, as known on K = E:

- ``due``: entitlements achieved as of E whose ``payable_on`` falls in the period;
- ``at_stake``: pending entitlements whose ``payable_on`` is already fixed — the date they would
  have if nothing further happened — falling in the period, at full amount;
- ``expected``: ``due`` plus each ``at_stake`` amount times the achievement rate of its outcome
  and instalment among the entitlements already decided, summed exactly and rounded half up to
  the penny once per period.

"If nothing further happened" is read literally (commissioning decision 4): the outcome's own
rule is asked again on the same facts with time run on (:func:`fixed_evidence_on`); if it would
then be achieved, on the date it gives, that date is fixed. A pending entitlement that would not
(a pair of reviews still to come, a release from custody not yet known) is ``unscheduled``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from ledger.rulesets import Ruleset
from projections.engine import RULES
from projections.model import History, Journey, OutcomeResult, Status
from projections.periods import period_end
from projections.recovery import split_instalments

ZERO = Decimal("0.00")
POOL_BELOW = 30  # §12: fewer decided under the ruleset than this, and the rate is pooled
RATE_PLACES = Decimal("0.0001")
# The pending reasons whose date time alone can fix: a qualifying pair awaiting its period's end
# (1.1, 1.3), a window or clock running (1.2, 3.1, 3.2), a spell off benefits running (2.1).
# Any other pending entitlement needs a fact still to come, so the rule is not asked again.
FIXABLE = frozenset({"awaiting_period_end", "window_running", "spell_running"})


@dataclass(frozen=True, slots=True)
class Unit:
    """One entitlement (an outcome, or one instalment) that is pending or failed as of E.

    ``payable_on`` is the fixed payable date of a pending one, or ``None`` when it is not fixed;
    ``amount`` is its full amount (tariff times band multiplier, or the instalment's share).
    """

    client: str
    journey: str
    outcome: str
    instalment: int | None
    provider: str
    site: str
    ruleset: str
    status: str  # "pending" or "failed"
    amount: Decimal | None
    payable_on: date | None


@dataclass(frozen=True, slots=True)
class Achieved:
    """An achieved entitlement: what ``due`` and the rates count."""

    outcome: str
    instalment: int | None
    provider: str
    site: str | None
    ruleset: str
    amount: Decimal
    payable_on: date
    cohort: bool = False  # a cohort's payment: due like any other, never in a rate


def time_run_on(as_of: date) -> date:
    """A date past every window, lag and reset limit of any ruleset: "time run on"."""
    return date(as_of.year + 30, 12, 31)


def fixed_evidence_on(history: History, journey: Journey, ruleset: Ruleset,
                      outcome: str) -> tuple[date | None, dict[int, date]]:
    """§12: the evidence date a pending outcome would have if nothing further happened, and
    each instalment's; ``None`` / absent where it would still not be achieved.

    The rule is asked on the same facts (the history as of E) with time run on: a window from a
    known completion (1.2), the current offending clock (3.1, 3.2), the current spell off
    benefits (2.1) and a qualifying pair awaiting its period's end (1.1, 1.3) run out; nothing
    else happens. A cohort measure is never fixed here (its amount is not known per journey).
    """
    params = getattr(ruleset.outcomes, outcome)
    if getattr(params, "measure", "individual") == "cohort":
        return None, {}
    finding = RULES[outcome](history, journey, ruleset, time_run_on(history.as_of))
    whole = finding.evidence_on if finding.status is Status.ACHIEVED else None
    return whole, {i.n: i.evidence_on for i in finding.instalments
                   if i.status is Status.ACHIEVED and i.evidence_on is not None}


def client_units(history: History, results: Sequence[OutcomeResult],
                 rulesets: Mapping[str, Ruleset]) -> list[Unit]:
    """Every pending or failed entitlement of one client's outcomes, pending ones with their
    fixed payable date (or none) and full amount (§12)."""
    journeys = {journey.journey: journey for journey in history.journeys}
    units: list[Unit] = []
    for result in results:
        if result.client is None or result.journey is None:
            continue  # cohort rows: see commissioning decision 5
        parts = ([(None, result.status, result.reason)] if result.instalments is None
                 else [(i.n, i.status, i.reason) for i in result.instalments])
        if not any(status in (Status.PENDING, Status.FAILED) for _, status, _ in parts):
            continue
        ruleset = rulesets[result.ruleset]
        journey = journeys[result.journey]
        fixable = any(status is Status.PENDING and reason in FIXABLE
                      for _, status, reason in parts)
        fixed = (fixed_evidence_on(history, journey, ruleset, result.outcome) if fixable
                 else (None, {}))
        amount = ruleset.amount(getattr(ruleset.outcomes, result.outcome).tariff,
                                journey.lasars_band)
        shares = None if result.instalments is None else split_instalments(
            amount, len(result.instalments))
        lag = getattr(ruleset.outcomes, result.outcome).lag
        for n, status, reason in parts:
            if status is Status.FAILED:
                units.append(Unit(history.client, result.journey, result.outcome, n,
                                  journey.provider, history.site, ruleset.id, "failed", None,
                                  None))
            elif status is Status.PENDING:
                evidence = None
                if reason in FIXABLE:
                    evidence = fixed[0] if n is None else fixed[1].get(n)
                units.append(Unit(
                    history.client, result.journey, result.outcome, n, journey.provider,
                    history.site, ruleset.id, "pending",
                    amount if shares is None or n is None else shares[n - 1],
                    None if evidence is None else lag.after(evidence)))
    return units


def achieved_entitlements(results: Iterable[OutcomeResult]) -> list[Achieved]:
    """The achieved entitlements, cohort payments marked (commissioning decision 5)."""
    found = []
    for result in results:
        if result.provider is None:
            continue
        parts = ([(None, result.status, result.amount, result.payable_on)]
                 if result.instalments is None else
                 [(i.n, i.status, i.amount, i.payable_on) for i in result.instalments])
        for n, status, amount, payable_on in parts:
            if status is Status.ACHIEVED and amount is not None and payable_on is not None:
                found.append(Achieved(result.outcome, n, result.provider, result.site,
                                      result.ruleset, amount, payable_on,
                                      result.client is None))
    return found


def period_ends(as_of: date, periods: int, payment_period: str) -> list[date]:
    """§12: the ends of the ``periods`` payment periods after the one E falls in."""
    ends, current = [], period_end(as_of, payment_period)
    for _ in range(periods):
        current = period_end(current + timedelta(days=1), payment_period)
        ends.append(current)
    return ends


@dataclass(frozen=True)
class Rate:
    ruleset: str
    outcome: str
    instalment: int | None
    decided: int
    achieved: int
    pooled: bool

    @property
    def value(self) -> Fraction | None:
        return None if not self.decided else Fraction(self.achieved, self.decided)


Counts = Mapping[tuple[str, str, int | None], tuple[int, int]]  # (decided, achieved)


def rates(counts: Counts) -> dict[tuple[str, str, int | None], Rate]:
    """§12: the achievement rate of each ruleset, outcome and instalment; pooled over every
    ruleset where fewer than 30 are decided under it (null where none is decided anywhere)."""
    pooled: dict[tuple[str, int | None], list[int]] = {}
    for (_, outcome, n), (decided, achieved) in counts.items():
        total = pooled.setdefault((outcome, n), [0, 0])
        total[0] += decided
        total[1] += achieved
    found = {}
    for key, (decided, achieved) in counts.items():
        ruleset, outcome, n = key
        if decided < POOL_BELOW:
            decided, achieved = pooled[(outcome, n)]
            found[key] = Rate(ruleset, outcome, n, decided, achieved, True)
        else:
            found[key] = Rate(ruleset, outcome, n, decided, achieved, False)
    return found


def decided_counts(achieved: Iterable[Achieved], units: Iterable[Unit],
                   ) -> dict[tuple[str, str, int | None], tuple[int, int]]:
    """Decided (achieved or failed) and achieved entitlements per ruleset, outcome, instalment;
    every pending one's key is present too, so its rate can be looked up."""
    counts: dict[tuple[str, str, int | None], list[int]] = {}
    for entitlement in achieved:
        if entitlement.cohort:
            continue
        pair = counts.setdefault((entitlement.ruleset, entitlement.outcome,
                                  entitlement.instalment), [0, 0])
        pair[0] += 1
        pair[1] += 1
    for unit in units:
        pair = counts.setdefault((unit.ruleset, unit.outcome, unit.instalment), [0, 0])
        if unit.status == "failed":
            pair[0] += 1
    return {key: (decided, won) for key, (decided, won) in counts.items()}


def _round_pence(pence: Fraction) -> Decimal:
    """Half up to the penny, once (§12: each period's expected is summed exactly)."""
    whole = (pence + Fraction(1, 2)).__floor__()
    return (Decimal(whole) / 100).quantize(Decimal("0.01"))


def _rate_text(rate: Fraction | None) -> str | None:
    if rate is None:
        return None
    return str((Decimal(rate.numerator) / Decimal(rate.denominator)).quantize(
        RATE_PLACES, rounding=ROUND_HALF_UP))


class _Periods:
    """The forecast's periods: each provider's due, at stake and expected (exact, in pence)."""

    def __init__(self, as_of: date, periods: int, payment_period: str) -> None:
        self.ends = period_ends(as_of, periods, payment_period)
        self.starts = [period_end(as_of, payment_period), *self.ends[:-1]]
        self.due = [dict[str, Decimal]() for _ in self.ends]
        self.stake = [dict[str, Decimal]() for _ in self.ends]
        self.expected = [dict[str, Fraction]() for _ in self.ends]

    def index(self, day: date) -> int | None:
        for index, (start, end) in enumerate(zip(self.starts, self.ends, strict=True)):
            if start < day <= end:
                return index
        return None

    def add(self, index: int, provider: str, amount: Decimal, rate: Fraction | None,
            due: bool) -> None:
        """An achieved amount (``due``), or one at stake expected at ``rate`` (null counts 0)."""
        part = self.due[index] if due else self.stake[index]
        part[provider] = part.get(provider, ZERO) + amount
        weight = Fraction(1) if due else (rate or Fraction(0))
        self.expected[index][provider] = (self.expected[index].get(provider, Fraction(0))
                                          + Fraction(amount) * 100 * weight)

    def documents(self) -> list[dict]:
        providers = sorted({p for part in (*self.due, *self.stake) for p in part})
        return [{"period_end": end, "providers": {
            provider: {"due": self.due[i].get(provider, ZERO),
                       "at_stake": self.stake[i].get(provider, ZERO),
                       "expected": _round_pence(self.expected[i].get(provider, Fraction(0)))}
            for provider in providers}} for i, end in enumerate(self.ends)]


def forecast(as_of: date, periods: int, payment_period: str, achieved: Sequence[Achieved],
             units: Sequence[Unit], counts: Counts | None = None) -> dict:
    """CONTRACT.md's ``pbr forecast --json`` document (§12). ``counts`` are the decided counts
    when the caller has them already (read from the projection tables); otherwise they are
    counted from ``achieved`` and ``units``."""
    table = _rate_table(counts if counts is not None else decided_counts(achieved, units), units)
    found = _Periods(as_of, periods, payment_period)
    for entitlement in achieved:
        index = found.index(entitlement.payable_on)
        if index is not None:
            found.add(index, entitlement.provider, entitlement.amount, None, due=True)
    used: set[tuple[str, str, int | None]] = set()
    unscheduled = []
    for unit in units:
        if unit.status != "pending" or unit.amount is None:
            continue
        key = (unit.ruleset, unit.outcome, unit.instalment)
        index = None if unit.payable_on is None else found.index(unit.payable_on)
        if unit.payable_on is None:
            unscheduled.append({"provider": unit.provider, "client": unit.client,
                                "journey": unit.journey, "outcome": unit.outcome,
                                "instalment": unit.instalment, "amount": unit.amount,
                                "rate": _rate_text(table[key].value)})
        elif index is not None:
            found.add(index, unit.provider, unit.amount, table[key].value, due=False)
        else:
            continue  # fixed beyond the forecast's periods
        used.add(key)
    return {
        "as_of": as_of, "known_on": as_of, "provider_sites": _provider_sites(achieved, units),
        "periods": found.documents(),
        "unscheduled": sorted(unscheduled, key=lambda u: (u["provider"], u["client"],
                                                          u["journey"], u["outcome"],
                                                          u["instalment"] or 0)),
        "rates": [{"ruleset": r.ruleset, "outcome": r.outcome, "instalment": r.instalment,
                   "decided": r.decided, "achieved": r.achieved, "rate": _rate_text(r.value),
                   "pooled": r.pooled}
                  for key, r in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                      kv[0][2] or 0))
                  if key in used]}


def _rate_table(counts: Counts, units: Sequence[Unit]) -> dict[tuple, Rate]:
    known = dict(counts)
    for unit in units:  # a pending entitlement's key, though none of its kind is decided
        known.setdefault((unit.ruleset, unit.outcome, unit.instalment), (0, 0))
    return rates(known)


def _provider_sites(achieved: Sequence[Achieved], units: Sequence[Unit]) -> dict[str, list]:
    sites: dict[str, set[str]] = {}
    for item in (*achieved, *units):
        if item.site is not None:
            sites.setdefault(item.provider, set()).add(item.site)
    return {provider: sorted(found) for provider, found in sorted(sites.items())}


def backtest(forecasts: Sequence[dict], paid: Mapping[tuple[date, str], Decimal],
             run_dates: Iterable[date]) -> dict:
    """§12's check against history: each forecast's ``expected`` per provider and period beside
    what the runs as of that period's end actually paid, net (nothing, for a provider with no
    line in them). Per provider and horizon (periods ahead): the mean absolute error, and that
    as a share of the mean paid (commissioning decision 7). Periods with no run are left out."""
    dates = set(run_dates)
    providers = sorted({p for _, p in paid} | {p for document in forecasts
                                                for period in document["periods"]
                                                for p in period["providers"]})
    errors: dict[tuple[str, int], list[tuple[Decimal, Decimal]]] = {}
    for document in forecasts:
        for horizon, period in enumerate(document["periods"], start=1):
            end = period["period_end"]
            if end not in dates:
                continue
            for provider in providers:
                expected = period["providers"].get(provider, {}).get("expected", ZERO)
                actual = paid.get((end, provider), ZERO)
                errors.setdefault((provider, horizon), []).append((abs(expected - actual),
                                                                   actual))
    rows = []
    for (provider, horizon), pairs in sorted(errors.items()):
        absolute = sum((a for a, _ in pairs), ZERO)
        actual = sum((p for _, p in pairs), ZERO)
        rows.append({"provider": provider, "horizon": horizon, "forecasts": len(pairs),
                     "mean_absolute_error": _pounds(absolute / len(pairs)),
                     "mean_paid": _pounds(actual / len(pairs)),
                     "share_of_paid": None if not actual else
                     (absolute / actual).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)})
    return {"rows": rows}


def _pounds(amount: Decimal) -> Decimal:
    return amount.quantize(ZERO, rounding=ROUND_HALF_UP)
