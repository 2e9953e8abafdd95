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
