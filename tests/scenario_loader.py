"""Scenario cases as data (``tests/scenarios/*.yaml``): records, a ruleset, expected outcomes.

A scenario is readable by a finance analyst: a ``name`` that is a sentence, the ``records``
in CONTRACT.md's format (``source_id``, ``received_on`` and ``client`` may be left out), an
optional list of ``ruleset_changes`` (text replacements in the example ruleset), ``as_of``,
an optional ``known_on``, and ``expect``: the outcomes to check, field by field (a cohort row
has ``client: null`` and ``journey: null``; ``explanation_includes`` lists words the explanation
must contain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ledger.rulesets import example_ruleset_text

FOLDER = Path(__file__).parent / "scenarios"
OWN_DATES = ("on", "offence_on", "disposal_on")
DEFAULTS: dict[str, dict[str, Any]] = {
    "treatment_started": {"journey": "J1", "provider": "P1", "injecting": False,
                          "housing": "none", "hepb_vaccination_needed": False},
    "top_recorded": {"journey": "J1"},
    "discharged": {"journey": "J1"},
}


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    records: list[dict[str, Any]]
    ruleset: str
    as_of: str
    known_on: str | None
    expect: list[dict[str, Any]]


def complete_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill in what a scenario may leave out, and register each client once."""
    completed: list[dict[str, Any]] = []
    clients: list[str] = []
    for number, given in enumerate(records, start=1):
        # YAML 1.1 reads the bare key ``on`` as the boolean true: give it its name back.
        given = {("on" if key is True else key): value for key, value in given.items()}
        record = {**DEFAULTS.get(given["type"], {}), **given}
        record = {k: str(v) if hasattr(v, "isoformat") else v for k, v in record.items()}
        record.setdefault("client", "C1")
        own = [record[name] for name in OWN_DATES if name in record]
        record.setdefault("received_on", max(own) if own else "2012-01-01")
        record.setdefault("source_id", f"{record['type']}-{number}")
        if record["client"] not in clients and record["type"] != "client_registered":
            clients.append(record["client"])
            completed.append({"type": "client_registered", "source_id": f"reg-{record['client']}",
                              "received_on": "2000-01-01", "client": record["client"],
                              "site": "S1", "date_of_birth": "1970-01-01"})
        if record["type"] == "client_registered":
            clients.append(record["client"])
        completed.append(record)
    return completed


def load_scenario(path: Path) -> Scenario:
    data = yaml.safe_load(path.read_text())
    ruleset = example_ruleset_text()
    for old, new in data.get("ruleset_changes", []):
        assert old in ruleset, f"{path.name}: ruleset text {old!r} not found"
        ruleset = ruleset.replace(old, new, 1)
    return Scenario(data["name"], path, complete_records(data["records"]), ruleset,
                    str(data["as_of"]), str(data["known_on"]) if data.get("known_on") else None,
                    data["expect"])


def all_scenarios() -> list[Scenario]:
    return [load_scenario(path) for path in sorted(FOLDER.glob("*.yaml"))]
