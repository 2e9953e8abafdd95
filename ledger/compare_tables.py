"""``pbr compare``'s first ruleset read from the projection tables (RULES.md §11).

When the first compared ruleset is the one published ruleset, governs every journey and the
tables are current for E and K, its totals — and its share of the outcomes another ruleset sets
differently — are the payable entitlements of ``pbr_entitlements`` and the journeys and offers of
``pbr_journey_profiles``, grouped in the database by amount so that sums stay exact decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from ledger.rulesets import Ruleset, ruleset_digest
from ledger.store import Ledger
from ledger.views import Projection
from projections.compare import Profile, Tally, offer_total


def projection_profiles(projection: Projection) -> dict[tuple[str, str], Profile]:
    """Every journey's profile as the projection tables hold it (RULES.md §11)."""
    with projection.datastore.transaction(commit=False) as session:
        return {(client, journey): _profile(rest) for client, journey, *rest in session.execute(
            text("SELECT client, journey, substance_group, offended_before, injecting, "
                 "housing_problem, lasars_band FROM pbr_journey_profiles"))}


def reusable_projection(ledger: Ledger, first: Ruleset, as_of: date,
                        known_on: date) -> Projection | None:
    """The projection tables, when they hold exactly the first ruleset's derivation as of E
    known on K: it is the one published ruleset, it governs every journey (none unruled),
    and the tables are current for E and K (caught up first)."""
    published = ledger.rulesets()
    if len(published) != 1 or ruleset_digest(published[0]) != ruleset_digest(first):
        return None
    projection = Projection.existing(ledger)
    if projection is None or not projection.has_commissioning_rows() \
            or not projection.serves(as_of, known_on):
        return None
    with ledger.datastore.transaction(commit=False) as session:
        if session.execute(text("SELECT 1 FROM pbr_unruled_journeys LIMIT 1")).first():
            return None
    return projection


def projection_tally(projection: Projection, as_of: date,
                     only: frozenset[str] | None = None) -> Tally:
    """The first ruleset's tally read from the projection tables (of ``only``'s outcomes, or
    all): payable entitlements grouped by amount (sums stay exact decimals), journeys and
    offers per profile."""
    tally = Tally()
    day = as_of.isoformat()
    profile_columns = ("j.substance_group, j.offended_before, j.injecting, j.housing_problem, "
                       "j.lasars_band")
    names = sorted(only or ())
    chosen = "" if only is None else (
        "AND e.outcome IN (" + ", ".join(f":o{n}" for n in range(len(names))) + ") ")
    parameters = {"day": day, **{f"o{n}": name for n, name in enumerate(names)}}
    with projection.datastore.transaction(commit=False) as session:
        def run(sql: str) -> Any:
            return session.execute(text(sql), parameters)
        for outcome, provider, site, amount, count in run(
                "SELECT e.outcome, e.provider, e.site, e.amount, count(*) FROM pbr_entitlements e "
                f"WHERE e.payable_on <= :day {chosen}"
                "GROUP BY e.outcome, e.provider, e.site, e.amount"):
            tally.add_payable(outcome, provider, site, Decimal(amount) * count)
        for *profile, amount, count in run(
                f"SELECT {profile_columns}, e.amount, count(*) FROM pbr_entitlements e "
                "JOIN pbr_journey_profiles j ON e.client = j.client AND e.journey = j.journey "
                f"WHERE e.payable_on <= :day {chosen}GROUP BY {profile_columns}, e.amount"):
            tally.profile(_profile(profile)).total += Decimal(amount) * count
        if only is None:
            for *profile, offer, count in run(
                    f"SELECT {profile_columns}, j.max_earnable, count(*) "
                    f"FROM pbr_journey_profiles j GROUP BY {profile_columns}, j.max_earnable"):
                part = tally.profile(_profile(profile))
                part.journeys += count
                part.offered += Decimal(offer) * count
        else:
            for *profile, offers in run(f"SELECT {profile_columns}, j.offers "
                                        "FROM pbr_journey_profiles j"):
                tally.profile(_profile(profile)).offered += offer_total(
                    _offers(offers), only)
    return tally


def _offers(stored: str) -> dict[str, Decimal]:
    return {name: Decimal(amount) for name, amount in
            (part.split("=") for part in stored.split())}


def _profile(values: Sequence[Any]) -> Profile:
    group, offended, injecting, housing, band = values
    return Profile(group, bool(offended), bool(injecting), bool(housing), int(band))
