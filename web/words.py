"""Words a dispute panel member reads instead of the ledger's codes (the codes stay beside them,
small, for whoever needs to quote one)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

OUTCOMES = {
    "drug_free_initial": "Free of the problem drugs (initial)",
    "drug_free_final": "Completed treatment and stayed free of drugs (final)",
    "drug_reduction_initial": "Reduced drug use (initial)",
    "planned_discharge_initial": "Planned discharge (initial)",
    "employment_final": "Stayed in work (final)",
    "employment_initial": "Into work (initial)",
    "offending_initial": "No proven offending (initial)",
    "offending_final": "No proven offending (final)",
    "injecting": "Stopped injecting",
    "housing": "Housing problem resolved",
    "hepatitis_b": "Hepatitis B course completed",
    "wellbeing": "Wellbeing improved",
}

STATUSES = {
    "achieved": "Achieved: earns its payment",
    "pending": "Not decided yet",
    "failed": "Not achieved",
    "ineligible": "Not eligible: cannot earn this payment",
}

RECORDS = {
    "client_registered": "Registered",
    "treatment_started": "Treatment started",
    "top_recorded": "Review (TOP) recorded",
    "discharged": "Discharged",
    "cjs_caseload_entered": "Entered a criminal-justice caseload",
    "proven_offence": "Proven offence",
    "released_from_custody": "Released from custody",
    "hepb_course_completed": "Hepatitis B course completed",
    "benefits_ended": "Benefits ended",
    "benefits_started": "Benefits started",
    "died": "Died",
    "correction": "Correction",
}

KINDS = {"payment": "payment", "clawback": "clawback (taken back)",
         "adjustment": "adjustment (a resolved dispute)"}

_HIDDEN = {"type", "source_id", "received_on", "client", "originator_id", "originator_version",
           "timestamp", "on", "journey", "originator_topic"}


def outcome(slug: str | None) -> str:
    return OUTCOMES.get(slug or "", slug or "")


def status(code: str) -> str:
    return STATUSES.get(str(code), str(code))


def record(kind: str) -> str:
    return RECORDS.get(kind, kind.replace("_", " "))


def kind(code: str) -> str:
    return KINDS.get(code, code)


def money(amount: Any) -> str:
    """``£1,234.50``; a negative amount ``-£100.00``; nothing as an empty string."""
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount))
    return f"-£{-value:,.2f}" if value < 0 else f"£{value:,.2f}"


def details(event: Any) -> str:
    """A record's further fields in a line: ``substances: opiates, crack; injecting: yes``."""
    parts = []
    for name, value in vars(event).items():
        if name in _HIDDEN or name.startswith("_") or value is None:
            continue
        parts.append(f"{name.replace('_', ' ')}: {_value(value)}")
    return "; ".join(parts)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return "" if value is None else str(value)

# pbr verify's reasons (ledger/integrity.py), for someone who has never seen the chain.
VERIFY = {
    "event_changed": "A record was altered after the ledger wrote it.",
    "chain_entry_changed": "The ledger's seal on a record was altered (the record itself agrees "
                           "with the seals around it).",
    "event_missing": "A record was deleted from the ledger.",
    "event_inserted": "A record was put into the ledger from outside it, not by the ledger.",
    "chain_entry_missing": "The seal of a record was deleted.",
    "event_moved": "A record was moved to another position in the ledger.",
    "run_lines_changed": "A payment run's lines were altered after the run was recorded: they no "
                         "longer add up to what the run recorded.",
    "run_head_differs": "A payment run rests on a state of the ledger that the ledger no longer "
                        "has.",
    "no_such_position": "The ledger has no record at that position.",
    "head_differs": "The ledger up to that position is not what it was when that head was "
                    "printed: something before it has changed since.",
}


def verify_reason(code: str) -> str:
    return VERIFY.get(code, code.replace("_", " "))

# pbr diagnostics (RULES.md §10): each concern and each indicator in a commissioner's words.
CONCERNS = {
    "creaming": "Creaming: the clients hardest to help may be being turned away",
    "parking": "Parking: clients may be kept in treatment without progress",
    "gaming": "Gaming: results may be shaped to the payment rules rather than to recovery",
    "adverse_outcome": "Adverse outcome: clients may be faring worse",
}

INDICATORS = {
    "starts": "journeys started in the period",
    "band_mix.1": "share of starts in LASARS band 1 (the least complex clients)",
    "band_mix.2": "share of starts in LASARS band 2",
    "band_mix.3": "share of starts in LASARS band 3 (the most complex clients)",
    "discharges": "journeys ended in the period",
    "completion_rate": "successful completions, as a share of discharges",
    "drop_out_rate": "clients who dropped out, as a share of discharges",
    "declined_rate": "clients who declined further treatment, as a share of discharges",
    "parked": "journeys a year or more in treatment without progress",
    "parked_rate": "journeys a year or more in treatment without progress, as a share of "
                   "those a year or more in treatment",
    "deaths_per_1000": "deaths per 1,000 journeys open in the period",
    "abstinent_at_review": "reviews recording no use of the client's problem drugs",
    "pairs_near_min_gap": "pairs of reviews less than a week past the rules' minimum gap apart",
    "representation_rate": "completions of the year before followed by a return to treatment "
                           "or to a criminal-justice caseload",
}


def concern(code: str) -> str:
    return CONCERNS.get(code, code.replace("_", " "))


def concern_parts(code: str) -> tuple[str, str]:
    """The concern's name and what it means: ``("Parking", "clients may be kept ...")``."""
    name, _, meaning = concern(code).partition(": ")
    return name, meaning


def indicator(code: str) -> str:
    return INDICATORS.get(code, code.replace("_", " "))


def figure(code: str, value: Any, in_column: bool = False) -> str:
    """A diagnostic value as read: a share as a percentage (``47.00%``, exactly the 4 places
    the ledger compares), deaths per 1,000 (``in_column``: under a heading that says so), a
    count as it is; no value (no cases) as ``–``."""
    if value is None or value == "":
        return "–"
    number = Decimal(str(value))
    if code == "deaths_per_1000":
        return f"{number:,.2f}" if in_column else f"{number:,.2f} per 1,000"
    if code in ("starts", "discharges", "parked"):
        return f"{number:,}"
    return f"{number * 100:.2f}%"


def flag_finding(flag: dict, peers_hidden: bool = False) -> str:
    """A flag in a sentence: the indicator, its value and the bound it crossed, and against
    what. ``peers_hidden``: a provider user's own flag against its site's providers, whose
    bound is worked out from the other providers' figures (docs/web.md decision 19)."""
    code = flag["indicator"]
    side = "below" if flag["side"] == "low" else "above"
    found = f"{indicator(code)}: {figure(code, flag['value'])}"
    if flag["basis"] == "baseline":
        edge = "lowest" if flag["side"] == "low" else "highest"
        return f"{found}, {side} the baseline's {edge} {figure(code, flag['bound'])}"
    if peers_hidden:
        return f"{found}, far {side} the other providers of its site"
    return (f"{found}, {side} {figure(code, flag['bound'])}: more than 3 spreads from the "
            f"median of the site's providers")
