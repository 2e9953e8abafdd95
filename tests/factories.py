"""Build record events for pure tests, with CONTRACT.md's defaults, without a store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from ledger.events import RECORD_EVENTS, RecordEvent, client_stream_id

_DEFAULTS: dict[str, dict[str, Any]] = {
    "treatment_started": {"injecting": False, "housing": "none",
                          "hepb_vaccination_needed": False, "lasars_band": None,
                          "provider": "P1", "substances": ["opiates"]},
    "top_recorded": {"days_used": {}, "injecting_days": None, "acute_housing_problem": None,
                     "at_risk_of_eviction": None, "psychological_health": None,
                     "physical_health": None, "quality_of_life": None},
    "discharged": {"on_substitute_medication": False},
    "proven_offence": {"trigger_offence": False},
    "client_registered": {"site": "S1", "date_of_birth": date(1980, 1, 1)},
    "correction": {"reason": "error"},
}
_DATE_FIELDS = {"on", "received_on", "offence_on", "disposal_on", "date_of_birth"}
_STAMP = datetime(2000, 1, 1, tzinfo=UTC)


def record(kind: str, version: int = 1, **fields: Any) -> RecordEvent:
    """One event of record type ``kind``; dates may be given as ``YYYY-MM-DD`` strings.

    ``received_on`` defaults to the record's own latest date, ``source_id`` to a name made
    from the type and dates, ``client`` to ``C1``.
    """
    values = dict(_DEFAULTS.get(kind, {}))
    values.update(fields)
    for name in _DATE_FIELDS & values.keys():
        if isinstance(values[name], str):
            values[name] = date.fromisoformat(values[name])
    values.setdefault("client", "C1")
    own = [values[n] for n in ("on", "offence_on", "disposal_on") if n in values]
    values.setdefault("received_on", max(own) if own else date(2012, 1, 1))
    values.setdefault("source_id", f"{kind}:{values['client']}:{version}:{sorted(map(str, own))}")
    cls = RECORD_EVENTS[kind]
    registering = kind == "client_registered"
    extra = {"originator_topic": "ledger.events:ClientHistory"} if registering else {}
    return cls(originator_id=client_stream_id(values["client"]), originator_version=version,
               timestamp=_STAMP, **extra, **values)


def records(*specs: tuple[str, dict[str, Any]]) -> list[RecordEvent]:
    """Several events, numbered in order: ``records(("treatment_started", {...}), ...)``."""
    return [record(kind, version=n, **fields) for n, (kind, fields) in enumerate(specs, start=1)]
