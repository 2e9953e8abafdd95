"""A simulated multi-site pilot, April 2012 to March 2015, in the CONTRACT.md record format.

Deterministic: the same client count and seed give the same file, line for line. The rates are
rounded from the published NDTMS and TOP figures for adults in treatment in England in 2011-12
and are listed, with their sources, in ``docs/simulation.md``; each is a named constant below.
Records are written in the order a ledger would receive them (by ``received_on``), so that every
record of the file is valid when imported in file order.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

PILOT_START = date(2012, 4, 1)
PILOT_END = date(2015, 3, 31)
LAST_FIRST_START = date(2014, 12, 31)
SITES = [f"S{n}" for n in range(1, 9)]
PROVIDERS_PER_SITE = 3

# Presenting substance groups (NDTMS 2011-12: ~49% opiates without crack, ~26% opiates and
# crack, the rest non-opiate: cannabis, powder cocaine, crack only, amphetamines; alcohol as an
# adjunct problem for about a third).
SUBSTANCE_GROUPS = [
    (0.49, ["opiates"]), (0.26, ["opiates", "crack"]), (0.09, ["cannabis"]),
    (0.06, ["cocaine"]), (0.04, ["crack"]), (0.03, ["amphetamines"]), (0.03, ["other"]),
]
ALCOHOL_ADJUNCT = 0.30
INJECTING_IF_OPIATE = 0.40
HOUSING = [(0.08, "nfa"), (0.14, "problem"), (0.78, "none")]
LASARS_BANDS = [(0.50, 1), (0.35, 2), (0.15, 3)]
HEPB_NEEDED_IF_INJECTING = 0.45
HEPB_COMPLETED = 0.60
# Abstinent at a review (TOP 2011-12): opiates 51%, crack 63%; other substances ~60%.
ABSTINENT_AT_REVIEW = {"opiates": 0.51, "crack": 0.63}
ABSTINENT_OTHERWISE = 0.60
STOPPED_INJECTING = 0.55
HOUSED_AT_REVIEW = 0.55
# Exits (NDTMS 2011-12): ~47% successful completions, ~27% drop-outs, ~14% transfers,
# the rest prison, declined, withdrawn, moved away, other; deaths ~1% of exits.
EXIT_REASONS = [
    (0.47, "completed"), (0.27, "dropped_out"), (0.14, "transferred"), (0.04, "prison"),
    (0.02, "declined"), (0.02, "treatment_withdrawn"), (0.02, "moved_away"), (0.01, "died"),
    (0.01, "other"),
]
OCCASIONAL_USER_SHARE = 0.25  # of non-opiate, non-crack completions
STILL_IN_TREATMENT = 0.35  # journeys still open at the end of the pilot (long OST journeys)
REPRESENT_AFTER_EXIT = 0.22
REPRESENT_VIA_CJS = 0.30  # of re-presentations, through the DIP or prison caseload
OFFENDING_CLIENTS = 0.33
DISPOSALS = [
    (0.14, "custody"), (0.20, "community_sentence"), (0.08, "suspended_sentence"),
    (0.18, "fine"), (0.13, "caution"), (0.05, "discharge"), (0.02, "warning"),
    (0.01, "reprimand"), (0.13, "penalty_notice"), (0.06, "cannabis_warning"),
]
TRIGGER_OFFENCE = 0.40
BAIL_OFFENCE = 0.10
UNDER_18 = 0.01
OFF_BENEFITS = 0.12
CORRECTIONS = 0.01
# Corrections fall on offences, TOPs and hepatitis B courses: about 55% of all records.
CORRECTION_OF_ELIGIBLE = CORRECTIONS / 0.55
BACK_ON_BENEFITS = 0.40
# Skews (``pbr simulate --skew PROVIDER:KIND``): a provider told to behave as the response fears
# (docs/diagnostics.md). ``creaming``: the provider sends every band-3 client to another of the
# site's providers; ``parking``: its journeys never end and never show progress;
# ``review-timing``: its second review of a journey comes 28 to 33 days after the first, just
# past the example ruleset's 28-day minimum gap.
SKEWS = ("creaming", "parking", "review-timing")
TIMED_REVIEW_DAYS = (28, 33)


def _pick(rng: random.Random, weighted: list[tuple[float, Any]]) -> Any:
    roll, total = rng.random(), 0.0
    for weight, value in weighted:
        total += weight
        if roll < total:
            return value
    return weighted[-1][1]


def _days(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(days=rng.randint(low, high))


@dataclass
class _Client:
    """One simulated client: registration, journeys and what happened around them."""

    rng: random.Random
    client: str
    site: str
    records: list[tuple[date, int, dict[str, Any]]]
    skews: Mapping[str, str] = field(default_factory=dict)
    sequence: int = 0
    serial: int = 0
    known: date = PILOT_START  # the latest received_on of the client's structural records

    def emit(self, record: dict[str, Any], received_on: date, structural: bool = True) -> str:
        """Add a record; structural ones (journey facts) are received in order."""
        if structural:
            received_on = max(received_on, self.known)
            self.known = received_on
        elif self.records:
            received_on = max(received_on, self.records[0][0])  # never before registration
        self.serial += 1
        source_id = f"{self.client}-{self.serial}"
        record = {"type": record.pop("type"), "source_id": source_id,
                  "received_on": received_on.isoformat(), "client": self.client, **record}
        self.sequence += 1
        self.records.append((received_on, self.sequence, record))
        return source_id


def _providers(site: str) -> list[str]:
    return [f"{site}-P{n}" for n in range(1, PROVIDERS_PER_SITE + 1)]


def providers() -> list[str]:
    """Every simulated provider: three per site."""
    return [provider for site in SITES for provider in _providers(site)]


def parse_skew(text: str) -> tuple[str, str]:
    """``PROVIDER:KIND`` of ``--skew``; a ``ValueError`` naming what is wrong otherwise."""
    provider, _, kind = text.partition(":")
    if provider not in providers():
        raise ValueError(f"{text!r}: {provider!r} is not a simulated provider "
                         f"({providers()[0]} to {providers()[-1]})")
    if kind not in SKEWS:
        raise ValueError(f"{text!r}: the kind must be one of {', '.join(SKEWS)}")
    return provider, kind


def simulate_client(rng: random.Random, number: int, skews: Mapping[str, str] | None = None,
                    ) -> list[tuple[date, int, dict[str, Any]]]:
    site = SITES[number % len(SITES)]
    client = _Client(rng, f"C{number:06d}", site, [], dict(skews or {}))
    first = PILOT_START + _days(rng, 0, (LAST_FIRST_START - PILOT_START).days)
    age = 17 if rng.random() < UNDER_18 else rng.randint(18, 62)
    born = date(first.year - age, rng.randint(1, 12), rng.randint(1, 28))
    if rng.random() < 0.3:
        born = date(born.year - 1, born.month, born.day)
    client.emit({"type": "client_registered", "site": site,
                 "date_of_birth": born.isoformat()}, first)
    substances = list(_pick(rng, SUBSTANCE_GROUPS))
    if rng.random() < ALCOHOL_ADJUNCT:
        substances.append("alcohol")
    _journeys(client, first, substances)
    if rng.random() < OFFENDING_CLIENTS:
        _offences(client, first)
    if rng.random() < OFF_BENEFITS:
        ended = first + _days(rng, 30, 300)
        if ended < PILOT_END:
            client.emit({"type": "benefits_ended", "on": ended.isoformat()},
                        ended + _days(rng, 5, 60), structural=False)
            back = ended + _days(rng, 30, 400)
            if rng.random() < BACK_ON_BENEFITS and back <= PILOT_END:
                client.emit({"type": "benefits_started", "on": back.isoformat()},
                            back + _days(rng, 5, 60), structural=False)
    _corrections(client)
    return client.records


def _journeys(client: _Client, start: date, substances: list[str]) -> None:
    rng = client.rng
    provider = rng.choice(_providers(client.site))
    number = 0
    while start <= PILOT_END:
        number += 1
        end, reason = _one_journey(client, f"J{number}", provider, start, substances)
        if end is None or reason == "died":
            return
        if reason == "transferred":
            provider = rng.choice([p for p in _providers(client.site) if p != provider])
            start = end + _days(rng, 0, 14)
            continue
        if rng.random() >= REPRESENT_AFTER_EXIT:
            return
        back = end + _days(rng, 20, 540)
        if back > PILOT_END:
            return
        if rng.random() < REPRESENT_VIA_CJS:
            client.emit({"type": "cjs_caseload_entered", "on": back.isoformat(),
                         "caseload": rng.choice(["dip", "prison"])},
                        back + _days(rng, 3, 60), structural=False)
        start = back
        provider = rng.choice(_providers(client.site))


def _one_journey(client: _Client, journey: str, provider: str, start: date,
                 substances: list[str]) -> tuple[date | None, str | None]:
    """Start, TOPs and exit of one journey; its discharge date and reason (None while open)."""
    rng = client.rng
    opiate = "opiates" in substances
    injecting = opiate and rng.random() < INJECTING_IF_OPIATE
    housing = _pick(rng, HOUSING)
    hepb = injecting and rng.random() < HEPB_NEEDED_IF_INJECTING
    band = _pick(rng, LASARS_BANDS)
    if band == 3 and client.skews.get(provider) == "creaming":
        provider = rng.choice([p for p in _providers(client.site) if p != provider])
    skew = client.skews.get(provider)
    started = {"type": "treatment_started", "journey": journey, "provider": provider,
               "on": start.isoformat(), "substances": substances, "injecting": injecting,
               "housing": housing, "hepb_vaccination_needed": hepb}
    if rng.random() < 0.9:
        started["lasars_band"] = band
    client.emit(started, start + _days(rng, 1, 20))
    client.emit(_top(rng, journey, start, "start", substances, injecting, housing != "none",
                     recovering=False), start + _days(rng, 1, 25))
    length = int(rng.lognormvariate(5.6 if opiate else 5.2, 0.6))
    open_at_end = rng.random() < STILL_IN_TREATMENT or skew == "parking"
    end = None if open_at_end else start + timedelta(days=max(length, 14))
    reason = None if end is None else _exit_reason(rng, substances)
    if end is not None and end > PILOT_END:
        end, reason = None, None
    recovering = rng.random() < _abstinence(substances) and skew != "parking"
    review = start + _days(rng, 150, 200)
    first_review = True
    while review <= PILOT_END and (end is None or review < end):
        client.emit(_top(rng, journey, review, "review", substances, injecting,
                         housing != "none", recovering), review + _days(rng, 1, 40))
        gap = TIMED_REVIEW_DAYS if first_review and skew == "review-timing" else (150, 210)
        review += _days(rng, *gap)
        first_review = False
    if hepb and rng.random() < HEPB_COMPLETED:
        course = start + _days(rng, 60, 200)
        if course <= PILOT_END and (end is None or course <= end):
            client.emit({"type": "hepb_course_completed", "on": course.isoformat()},
                        course + _days(rng, 3, 45), structural=False)
    if end is None:
        return None, None
    if reason == "died":
        client.emit({"type": "died", "on": end.isoformat()}, end + _days(rng, 7, 90))
        return end, reason
    if rng.random() < 0.7:
        client.emit(_top(rng, journey, end, "exit", substances, injecting, housing != "none",
                         recovering and reason.startswith("completed")), end + _days(rng, 1, 30))
    client.emit({"type": "discharged", "journey": journey, "on": end.isoformat(),
                 "reason": reason, "on_substitute_medication": opiate and rng.random() < 0.5},
                end + _days(rng, 1, 30))
    return end, reason


def _abstinence(substances: list[str]) -> float:
    rates = [ABSTINENT_AT_REVIEW.get(s, ABSTINENT_OTHERWISE) for s in substances]
    return min(rates)


def _exit_reason(rng: random.Random, substances: list[str]) -> str:
    reason = _pick(rng, EXIT_REASONS)
    if reason != "completed":
        return reason
    occasional_allowed = not {"opiates", "crack"} & set(substances)
    if occasional_allowed and rng.random() < OCCASIONAL_USER_SHARE:
        return "completed_occasional_user"
    return "completed_drug_free"


def _top(rng: random.Random, journey: str, on: date, stage: str, substances: list[str],
         injecting: bool, housing_problem: bool, recovering: bool) -> dict[str, Any]:
    days = {s: 0 if recovering else rng.randint(1, 28) for s in substances}
    if recovering and "alcohol" in days and rng.random() < 0.3:
        days["alcohol"] = rng.randint(1, 4)
    top: dict[str, Any] = {"type": "top_recorded", "journey": journey, "on": on.isoformat(),
                           "stage": stage, "days_used": days}
    if injecting:
        top["injecting_days"] = 0 if recovering and rng.random() < STOPPED_INJECTING \
            else rng.randint(1, 28)
    if rng.random() < 0.95:
        housed = recovering and rng.random() < HOUSED_AT_REVIEW
        problem = housing_problem and not housed
        top["acute_housing_problem"] = problem
        top["at_risk_of_eviction"] = problem and rng.random() < 0.3
    base = 13 if recovering else 9
    for score in ("psychological_health", "physical_health", "quality_of_life"):
        if rng.random() < 0.97:
            top[score] = max(0, min(20, base + rng.randint(-4, 5)))
    return top


def _offences(client: _Client, first: date) -> None:
    rng = client.rng
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        offence_on = first + _days(rng, -120, 900)
        if offence_on > PILOT_END:
            continue
        disposal_on = offence_on + _days(rng, 10, 180)
        disposal = _pick(rng, DISPOSALS)
        _offence(client, offence_on, disposal, disposal_on)
        if rng.random() < BAIL_OFFENCE and disposal_on - offence_on > timedelta(days=20):
            bail_on = offence_on + _days(rng, 5, (disposal_on - offence_on).days - 1)
            _offence(client, bail_on, _pick(rng, DISPOSALS[:6]),
                     disposal_on + _days(rng, 10, 120))


def _offence(client: _Client, offence_on: date, disposal: str, disposal_on: date) -> None:
    rng = client.rng
    if disposal_on > PILOT_END:
        return
    client.emit({"type": "proven_offence", "offence_on": offence_on.isoformat(),
                 "disposal": disposal, "disposal_on": disposal_on.isoformat(),
                 "trigger_offence": rng.random() < TRIGGER_OFFENCE},
                disposal_on + _days(rng, 20, 200), structural=False)
    if disposal == "custody":
        released = disposal_on + _days(rng, 30, 360)
        if released <= PILOT_END:
            client.emit({"type": "released_from_custody", "on": released.isoformat()},
                        released + _days(rng, 3, 60), structural=False)


def _corrections(client: _Client) -> None:
    """About 1% of records are later withdrawn: a quashed conviction, a wrong TOP."""
    rng = client.rng
    for received, _, record in list(client.records):
        if record["type"] in ("proven_offence", "top_recorded", "hepb_course_completed") \
                and rng.random() < CORRECTION_OF_ELIGIBLE:
            when = received + _days(rng, 10, 120)
            client.emit({"type": "correction", "retracts": record["source_id"],
                         "reason": "withdrawn by the source system"}, when, structural=False)


def simulate(clients: int, seed: int, skews: Mapping[str, str] | None = None,
             ) -> Iterator[dict[str, Any]]:
    """Every record of the pilot, in the order received; ``skews`` maps a provider to the
    kind of behaviour it is told to show (:data:`SKEWS`)."""
    rng = random.Random(seed)
    records: list[tuple[date, int, int, dict[str, Any]]] = []
    for number in range(1, clients + 1):
        for received, sequence, record in simulate_client(rng, number, skews):
            records.append((received, number, sequence, record))
    records.sort(key=lambda item: (item[0], item[1], item[2]))
    for *_, record in records:
        yield record


def write_pilot(clients: int, seed: int, out: Path | TextIO,
                skews: Mapping[str, str] | None = None) -> int:
    """Write the pilot as JSON Lines; the number of records."""
    count = 0
    handle = out.open("w", encoding="utf-8") if isinstance(out, Path) else out
    try:
        for record in simulate(clients, seed, skews):
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
            count += 1
    finally:
        if isinstance(out, Path):
            handle.close()
    return count
