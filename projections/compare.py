"""What-if: two or more rulesets worked out on one history (RULES.md §11). Pure: no storage.

The same records as of E known on K are worked out under each ruleset as if it governed every
journey (its ``effective_from`` and ``sites`` are set aside; :func:`as_if_governing`), and
totalled per outcome, provider, site and client profile, with ``max_earnable`` per profile: what
the ruleset would pay a journey of the profile if every individual outcome it is eligible for
were achieved in full. Nothing is recorded.

A :class:`Tally` is additive: a ruleset that sets only some outcomes differently from the first
is the first's tally, less the first's contribution from those outcomes, plus its own
(:func:`differing_outcomes`), so each history is read once and only what differs is derived
again (decisions in ``docs/commissioning.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from ledger.rulesets import OPTIONS, Ruleset
from projections.model import History, Journey, OutcomeResult, Status
from projections.offending import COUNTING_DISPOSALS
from projections.payments import payable
from projections.recovery import assign_cycles, split_instalments
from projections.treatment import LISTED_SUBSTANCES, is_successful_completion

ZERO = Decimal("0.00")
PENNY = Decimal("0.01")
INITIAL_ALTERNATIVES = frozenset({"drug_free_initial", "drug_reduction_initial"})
# RULES.md §4: the outcomes that read a journey's TOPs. A comparison whose differing outcomes are
# all outside this set, with the profiles known, needs no TOP record at all.
READ_TOPS = frozenset({"drug_free_initial", "drug_reduction_initial", "employment_initial",
                       "injecting", "housing", "wellbeing"})
# What decides recovery cycles (RULES.md §3) and touches every outcome: a ruleset differing from
# the first in any of these is derived in full.
RULESET_WIDE = ("payment_period", "min_review_gap", "relapse", "pay_if_died", "band_multipliers")


class Profile(NamedTuple):
    """RULES.md §11: a journey's client profile, from its start."""

    substance_group: str  # opiates_crack, alcohol_only or other_drugs
    offended_before: bool
    injecting: bool
    housing_problem: bool
    lasars_band: int


def substance_group(journey: Journey) -> str:
    """§11: ``opiates_crack`` if opiates or crack is presenting, else ``alcohol_only`` if
    alcohol is the only listed substance (1.1's list), else ``other_drugs``."""
    substances = journey.substances
    if substances & {"opiates", "crack"}:
        return "opiates_crack"
    if {s for s in substances if s in LISTED_SUBSTANCES} == {"alcohol"}:
        return "alcohol_only"
    return "other_drugs"


def journey_profile(history: History, journey: Journey) -> Profile:
    """§11 profile: ``offended_before`` is a proven offence (§2's counting disposals, proven as
    of E) dated before the start; ``injecting`` and ``housing_problem`` read the start as 4.1
    and 4.2 do (the journey's start record, or its start TOP)."""
    start_tops = journey.tops_at("start")
    top = start_tops[0] if start_tops else None
    injecting = journey.start.injecting or (top is not None and (top.injecting_days or 0) > 0)
    housing = journey.start.housing in ("nfa", "problem") or (
        top is not None and (top.acute_housing_problem is True
                             or top.at_risk_of_eviction is True))
    offended = any(o.disposal in COUNTING_DISPOSALS and o.offence_on < journey.started_on
                   for o in history.offences)
    return Profile(substance_group(journey), offended, bool(injecting), bool(housing),
                   journey.lasars_band or 1)


def as_if_governing(ruleset: Ruleset) -> Ruleset:
    """§11: the ruleset applied to every journey, whatever its ``effective_from`` and sites."""
    return ruleset.model_copy(update={"effective_from": date.min, "sites": ("*",)})


def differing_outcomes(first: Ruleset, other: Ruleset) -> frozenset[str] | None:
    """The outcomes ``other`` must derive afresh to be compared with ``first``; ``None`` for all.

    Everything is derived again when a ruleset-wide term differs, or 1.2's window (it sets the
    recovery cycles, §3). Otherwise an outcome is derived again when either ruleset switches it
    on and their terms for it differ; 1.1 and 1.3 go together (at most one per cycle).
    """
    if _ruleset_wide_differs(first, other) or _windows_differ(first, other):
        return None
    return _set_differently(first, other)


def _ruleset_wide_differs(first: Ruleset, other: Ruleset) -> bool:
    return any(getattr(first, name) != getattr(other, name) for name in RULESET_WIDE)


def _windows_differ(first: Ruleset, other: Ruleset) -> bool:
    """Whether 1.2's window (or 1.2 being on at all) differs between the two rulesets."""
    finals = first.outcomes.drug_free_final, other.outcomes.drug_free_final
    return len({None if f is None else f.window for f in finals}) > 1


def _set_differently(first: Ruleset, other: Ruleset) -> frozenset[str]:
    """The outcomes whose terms differ; 1.1 and 1.3 together (at most one per cycle)."""
    found = {name for name in OPTIONS
             if getattr(first.outcomes, name) != getattr(other.outcomes, name)}
    if found & INITIAL_ALTERNATIVES:
        found |= INITIAL_ALTERNATIVES
    return frozenset(found)


def window_alone_differs(first: Ruleset, other: Ruleset) -> frozenset[str] | None:
    """When the two rulesets differ in 1.2's window (so in the ``after_final_window`` cycles,
    §3) but in no ruleset-wide term and in no cohort measure: the outcomes they set differently
    otherwise (1.2's among them); else ``None``.

    The window reaches the other outcomes only through the recovery cycles, so a client whose
    journeys fall into the same cycles under both rulesets (every client with one journey) is
    worked out alike by both but for those outcomes (:func:`cycles_differ`).
    """
    if _ruleset_wide_differs(first, other) or not _windows_differ(first, other):
        return None
    for ruleset in (first, other):
        for name in OFFENDING:
            params = getattr(ruleset.outcomes, name)
            if params is not None and params.measure == "cohort":
                return None
    return _set_differently(first, other)


def uncompleted_alike(first: Ruleset, other: Ruleset, only: frozenset[str]) -> bool:
    """Whether a client none of whose journeys ended in a successful completion is worked out
    alike by both rulesets in a comparison of ``only``: when that is 1.2 alone, on in both at
    one tariff (the band multipliers being the same). Without a successful completion 1.2 is
    open (pending, or failed at a death) or ineligible (the journey ended otherwise, or under
    18) in both, whatever the window and instalments, and nothing is earned in a cycle: it pays
    nothing, and offers the same amount (open) or nothing (ineligible) in both (§11)."""
    if only != frozenset({"drug_free_final"}) or first.band_multipliers != other.band_multipliers:
        return False
    mine, theirs = first.outcomes.drug_free_final, other.outcomes.drug_free_final
    return mine is not None and theirs is not None and mine.tariff == theirs.tariff


def any_completion(history: History) -> bool:
    """Whether one of the client's journeys ended in a successful completion (§2)."""
    return any(is_successful_completion(journey) for journey in history.journeys)


def cycles_differ(history: History, first: Ruleset, other: Ruleset) -> bool:
    """Whether the client's journeys fall into different recovery cycles under the two rulesets
    (§3), each governing every journey; never for a client with one journey."""
    if len(history.journeys) < 2:
        return False
    return (assign_cycles(history.journeys, dict.fromkeys(_ids(history), first))
            != assign_cycles(history.journeys, dict.fromkeys(_ids(history), other)))


def _ids(history: History) -> list[str]:
    return [journey.journey for journey in history.journeys]


# 3.1 / 3.2 terms that only say which proven offences count and what a counting one does.
OFFENCE_TERMS = frozenset({"trigger_offences_only", "clock_reset", "reset_limit"})
OFFENDING = frozenset({"offending_initial", "offending_final"})


def offences_alone_differ(first: Ruleset, other: Ruleset, only: frozenset[str]) -> bool:
    """Whether the two rulesets' differing outcomes (``only``) are 3.1 / 3.2 on the individual
    measure differing only in which proven offences count and what they do
    (:data:`OFFENCE_TERMS`). Then a client with no proven offence is worked out alike by both
    (the window simply runs from the journey start), and only clients with one need deriving.
    """
    if not only or not only <= OFFENDING:
        return False
    for name in only:
        mine, theirs = getattr(first.outcomes, name), getattr(other.outcomes, name)
        if mine is None or theirs is None or "cohort" in (mine.measure, theirs.measure):
            return False
        left, right = mine.model_dump(), theirs.model_dump()
        if any(left[key] != right[key] for key in left if key not in OFFENCE_TERMS):
            return False
    return True


def relapse_alone_differs(first: Ruleset, other: Ruleset) -> bool:
    """Whether the two rulesets differ in their relapse policy (§3) and nothing else. Recovery
    cycles group a client's journeys, so a client with one journey is worked out alike by both:
    only clients with more than one need deriving."""
    mine, theirs = first.model_dump(), other.model_dump()
    return all(mine[key] == theirs[key] for key in mine
               if key not in ("id", "relapse", "effective_from", "sites")) \
        and mine["relapse"] != theirs["relapse"]


def _amount(ruleset: Ruleset, outcome: str, band: int | None) -> Decimal:
    params = getattr(ruleset.outcomes, outcome)
    return ruleset.amount(params.tariff, band)


def offered(result: OutcomeResult, ruleset: Ruleset, band: int | None) -> Decimal:
    """§11 ``max_earnable`` of one outcome of a journey: its amount in full (tariff times the
    band multiplier) unless it is ineligible; an outcome paid in instalments offers the shares
    of its instalments that are not ineligible (commissioning decision 2)."""
    if result.instalments is None:
        return ZERO if result.status is Status.INELIGIBLE else _amount(ruleset, result.outcome,
                                                                       band)
    shares = split_instalments(_amount(ruleset, result.outcome, band), len(result.instalments))
    return sum((share for share, instalment in zip(shares, result.instalments, strict=True)
                if instalment.status is not Status.INELIGIBLE), ZERO)


def journey_offers(results: Iterable[OutcomeResult], ruleset: Ruleset,
                   band: int | None) -> dict[str, Decimal]:
    """:func:`offered` for each individual outcome of a journey (cohort rows left out)."""
    return {result.outcome: offered(result, ruleset, band) for result in results
            if result.cohort is None}


def offer_total(offers: dict[str, Decimal], only: frozenset[str] | None = None) -> Decimal:
    """§11: the sum of the offers (of ``only``'s outcomes), the larger of 1.1 and 1.3."""
    total, initial = ZERO, ZERO
    for outcome, amount in offers.items():
        if only is not None and outcome not in only:
            continue
        if outcome in INITIAL_ALTERNATIVES:
            initial = max(initial, amount)
        else:
            total += amount
    return total + initial


def journey_offer(results: Iterable[OutcomeResult], ruleset: Ruleset,
                  band: int | None) -> Decimal:
    """§11: what a journey could earn under the ruleset, every eligible individual outcome
    achieved in full, the larger of 1.1 and 1.3; cohort outcomes left out."""
    return offer_total(journey_offers(results, ruleset, band))


def paid_as_of(result: OutcomeResult, as_of: date) -> Decimal:
    """§11 and §5: what is payable for the outcome as of E (achieved, ``payable_on <= E``)."""
    if result.instalments is None:
        return payable(result.amount, result.status, result.payable_on, as_of)
    return sum((payable(i.amount, i.status, i.payable_on, as_of) for i in result.instalments),
               ZERO)


@dataclass
class ProfileTally:
    journeys: int = 0
    total: Decimal = ZERO
    offered: Decimal = ZERO


def _add(values: dict, key: object, amount: Decimal) -> None:
    values[key] = values.get(key, ZERO) + amount


@dataclass
class Tally:
    """One ruleset's totals (§11), additive (:meth:`combine`); plain dictionaries, so a worker
    process can hand it back."""

    total: Decimal = ZERO
    by_outcome: dict[str, Decimal] = field(default_factory=dict)
    by_provider: dict[str, Decimal] = field(default_factory=dict)
    by_site: dict[str, Decimal] = field(default_factory=dict)
    profiles: dict[Profile, ProfileTally] = field(default_factory=dict)

    def profile(self, profile: Profile) -> ProfileTally:
        found = self.profiles.get(profile)
        if found is None:
            found = self.profiles[profile] = ProfileTally()
        return found

    def add_payable(self, outcome: str, provider: str | None, site: str | None,
                    amount: Decimal, profile: Profile | None = None) -> None:
        _add(self.by_outcome, outcome, amount)
        if amount:
            self.total += amount
            _add(self.by_provider, provider or "-", amount)
            _add(self.by_site, site or "-", amount)
            if profile is not None:
                self.profile(profile).total += amount

    def add_client(self, history: History, results: Sequence[OutcomeResult], ruleset: Ruleset,
                   count_journeys: bool = True,
                   profiles: Mapping[tuple[str, str], Profile] | None = None) -> None:
        """A client's outcomes under ``ruleset``; ``count_journeys`` for a full derivation
        (a partial one adds to the totals and the offers, never to the journey counts).
        ``profiles``: each journey's profile, known already (from a history with every record);
        otherwise it is read from this history."""
        by_journey: dict[str | None, list[OutcomeResult]] = {}
        for result in results:
            by_journey.setdefault(result.journey, []).append(result)
        for journey in history.journeys:
            known = None if profiles is None else profiles.get((history.client,
                                                                 journey.journey))
            profile = known or journey_profile(history, journey)
            mine = by_journey.get(journey.journey, [])
            tally = self.profile(profile)
            if count_journeys:
                tally.journeys += 1
            tally.offered += journey_offer(mine, ruleset, journey.lasars_band)
            for result in mine:
                self.add_payable(result.outcome, result.provider, result.site,
                                 paid_as_of(result, history.as_of), profile)

    def add_cohorts(self, results: Iterable[OutcomeResult], as_of: date) -> None:
        """Cohort outcomes count in the totals, not in any profile (they have no journey)."""
        for result in results:
            self.add_payable(result.outcome, result.provider, result.site,
                             paid_as_of(result, as_of))

    def combine(self, other: Tally, sign: int = 1) -> Tally:
        """This tally plus (``sign = 1``) or less (``sign = -1``) ``other``, as a new tally."""
        out = Tally()
        for source, factor in ((self, 1), (other, sign)):
            out.total += factor * source.total
            for name in ("by_outcome", "by_provider", "by_site"):
                mine = getattr(out, name)
                for key, amount in getattr(source, name).items():
                    _add(mine, key, factor * amount)
            for profile, part in source.profiles.items():
                mine_part = out.profile(profile)
                mine_part.journeys += factor * part.journeys
                mine_part.total += factor * part.total
                mine_part.offered += factor * part.offered
        return out


def _mean(amount: Decimal, count: int) -> Decimal | None:
    if not count:
        return None
    return (amount / count).quantize(PENNY, rounding=ROUND_HALF_UP)


def _money(values: dict[str, Decimal], keys: Iterable[str] | None = None) -> dict[str, Decimal]:
    names = sorted(values) if keys is None else sorted(keys)
    return {name: values.get(name, ZERO) for name in names}


def profile_rows(tally: Tally) -> list[dict]:
    """§11 per profile: journeys, total payable, mean per journey and ``max_earnable``."""
    rows = []
    for profile in sorted(tally.profiles):
        part = tally.profiles[profile]
        if part.journeys <= 0:
            continue
        rows.append({**profile._asdict(), "journeys": part.journeys, "total": part.total,
                     "mean": _mean(part.total, part.journeys),
                     "max_earnable": _mean(part.offered, part.journeys)})
    return rows


def report(tallies: Sequence[tuple[Ruleset, Tally]], as_of: date, known_on: date) -> dict:
    """CONTRACT.md's ``pbr compare --json`` document, with each ruleset's difference from the
    first: every outcome either switches on, zeros included; and per provider and site."""
    first_ruleset, first = tallies[0]
    documents = []
    for ruleset, tally in tallies:
        outcomes = set(ruleset.outcomes.switched_on()) | {
            name for name, amount in tally.by_outcome.items() if amount}
        difference = None
        if documents:
            both = outcomes | set(first_ruleset.outcomes.switched_on()) | set(first.by_outcome)
            difference = {
                "total": tally.total - first.total,
                "by_outcome": {name: tally.by_outcome.get(name, ZERO)
                               - first.by_outcome.get(name, ZERO) for name in sorted(both)},
                "by_provider": _differences(tally.by_provider, first.by_provider),
                "by_site": _differences(tally.by_site, first.by_site)}
        documents.append({"ruleset": ruleset.id, "total": tally.total,
                          "by_outcome": _money(tally.by_outcome, outcomes),
                          "by_provider": _nonzero(tally.by_provider),
                          "by_site": _nonzero(tally.by_site),
                          "profiles": profile_rows(tally), "difference": difference})
    return {"as_of": as_of, "known_on": known_on, "rulesets": documents}


def _nonzero(values: dict[str, Decimal]) -> dict[str, Decimal]:
    """Per provider or site: those with anything payable (a partial tally can leave zeros)."""
    return {key: values[key] for key in sorted(values) if values[key]}


def _differences(mine: dict[str, Decimal], first: dict[str, Decimal]) -> dict[str, Decimal]:
    keys = sorted({key for key in (*mine, *first) if mine.get(key) or first.get(key)})
    return {key: mine.get(key, ZERO) - first.get(key, ZERO) for key in keys}
