"""Diagnostic flags (RULES.md §10): values outside a baseline's bounds, and providers far from
their site's other providers. Pure: no storage, no clock.

A flag names the indicator, the value, the bound it crossed and the concern (``creaming``,
``parking``, ``gaming``, ``adverse_outcome``). Two tests make flags:

- **baseline**: every group's value outside the baseline's ``low`` / ``high`` (decision 6:
  only where the indicator's denominator is at least the baseline's ``min_denominator``);
- **site providers**: a provider more than 3 median absolute deviations from the median of its
  site's providers, where at least ``peer_min_providers`` (3) of them have the value (decision
  8: the deviation is never taken smaller than the provider's own sampling error, so that with
  three providers, whose median absolute deviation is the smaller of two gaps, chance alone
  does not flag; a spread of 0 flags nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import median
from typing import Any

from ledger.baselines import BOUNDED, Baseline
from projections.diagnostics import RATE_PLACES, Group, denominators, indicators

PEER_DEVIATIONS = 3  # RULES.md §10: "more than 3 median absolute deviations"


@dataclass(frozen=True)
class Flag:
    """One flag: CONTRACT.md's ``indicator``, ``value``, ``bound``, ``concern``; and which test
    raised it (``baseline`` or ``site_providers``), on which side, and its source."""

    indicator: str
    value: Decimal
    bound: Decimal
    concern: str
    basis: str
    side: str
    source: str
    judgement: bool


def value_of(values: dict[str, Any], indicator: str) -> Decimal | None:
    """An indicator's value; ``band_mix.3`` is band 3's share."""
    if indicator.startswith("band_mix."):
        return values["band_mix"][indicator.split(".", 1)[1]]
    return values[indicator]


def baseline_flags(group: Group, baseline: Baseline, period_days: int) -> list[Flag]:
    """Every value of the group outside its baseline bounds (for a period of ``period_days``
    days), with enough cases behind it."""
    values, counts = indicators(group.tally), denominators(group.tally)
    flags = []
    for indicator in BOUNDED:
        bounds = baseline.indicators.get(indicator)
        value = value_of(values, indicator)
        if bounds is None or value is None or counts[indicator] < baseline.min_denominator:
            continue
        for side, beyond in (("low", lambda v, b: v < b), ("high", lambda v, b: v > b)):
            bound = bounds.bound(side, period_days)
            if bound is not None and beyond(value, bound):
                flags.append(Flag(indicator, value, bound, bounds.concern(side) or "",
                                  "baseline", side, bounds.source, bounds.judgement))
    return flags


def peer_flags(groups: Sequence[Group], baseline: Baseline) -> dict[tuple[str, str], list[Flag]]:
    """Each provider's flags against its site's providers, by ``(site, provider)``."""
    found: dict[tuple[str, str], list[Flag]] = {}
    by_site: dict[str, list[Group]] = {}
    for group in groups:
        if group.level == "provider":
            by_site.setdefault(group.site or "", []).append(group)
    for providers in by_site.values():
        for indicator in BOUNDED:
            bounds = baseline.indicators.get(indicator)
            if bounds is None:
                continue
            for group, flag in _peer_indicator(providers, indicator, baseline):
                found.setdefault((group.site or "", group.provider or ""), []).append(flag)
    return found


def sampling_error(centre: Decimal, denominator: int, per: int = 1) -> Decimal:
    """Decision 8: the standard error of a rate ``centre`` (per ``per``) over ``denominator``
    cases, ``per * sqrt(p (1 - p) / n)``: the spread chance alone gives a provider's rate."""
    share = min(max(centre / per, Decimal(0)), Decimal(1))
    return per * (share * (1 - share) / denominator).sqrt()


def _peer_indicator(providers: Sequence[Group], indicator: str, baseline: Baseline,
                    ) -> list[tuple[Group, Flag]]:
    """One indicator across one site's providers: those more than 3 spreads from the median,
    the spread being the median absolute deviation, or the sampling error at the provider's
    own denominator where that is larger (decision 8)."""
    bounds = baseline.indicators[indicator]
    per = 1000 if indicator == "deaths_per_1000" else 1
    measured = []
    for group in providers:
        value = value_of(indicators(group.tally), indicator)
        count = denominators(group.tally)[indicator]
        if value is not None and count >= baseline.min_denominator:
            measured.append((group, value, count))
    if len(measured) < baseline.peer_min_providers:
        return []
    centre = median(value for _, value, _ in measured)
    deviation = median(abs(value - centre) for _, value, _ in measured)
    flags = []
    for group, value, count in measured:
        spread = max(deviation, sampling_error(centre, count, per))
        if spread == 0 or abs(value - centre) <= PEER_DEVIATIONS * spread:
            continue
        side = "low" if value < centre else "high"
        concern = bounds.concern(side)
        if concern is None:
            continue  # decision 9: a deviation no concern names is not a flag
        bound = centre + (PEER_DEVIATIONS * spread if side == "high"
                          else -PEER_DEVIATIONS * spread)
        flags.append((group, Flag(
            indicator, value, bound.quantize(RATE_PLACES), concern, "site_providers", side,
            f"median {centre.quantize(RATE_PLACES)} of the site's {len(measured)} providers; "
            f"median absolute deviation {deviation.quantize(RATE_PLACES)}, sampling error "
            f"{sampling_error(centre, count, per).quantize(RATE_PLACES)} over {count}", False)))
    return flags


def group_flags(groups: Sequence[Group], baseline: Baseline,
                period_days: int) -> list[list[Flag]]:
    """Each group's flags, in the groups' order: baseline flags, then site-provider flags."""
    peers = peer_flags(groups, baseline)
    return [baseline_flags(group, baseline, period_days) + (
        peers.get((group.site or "", group.provider or ""), [])
        if group.level == "provider" else []) for group in groups]
