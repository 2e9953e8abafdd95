"""Write record files for tests, in the CONTRACT.md format."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def reg(client: str = "C1", **extra) -> dict:
    return {"type": "client_registered", "source_id": f"reg-{client}", "received_on": "2012-04-01",
            "client": client, "site": "S1", "date_of_birth": "1980-01-01", **extra}


def start(client: str = "C1", journey: str = "J1", on: str = "2012-04-10", **extra) -> dict:
    return {"type": "treatment_started", "source_id": f"start-{client}-{journey}",
            "received_on": on, "client": client, "journey": journey, "provider": "P1", "on": on,
            "substances": ["opiates"], "injecting": False, "housing": "none",
            "hepb_vaccination_needed": False, **extra}


def discharge(client: str = "C1", journey: str = "J1", on: str = "2013-03-01",
              reason: str = "dropped_out", **extra) -> dict:
    return {"type": "discharged", "source_id": f"end-{client}-{journey}", "received_on": on,
            "client": client, "journey": journey, "on": on, "reason": reason, **extra}


def write_jsonl(path: Path, records: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict]) -> Path:
    columns: list[str] = []
    for record in records:
        columns += [key for key in record if key not in columns]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for record in records:
            writer.writerow({k: json.dumps(v) if isinstance(v, list | dict | bool | int)
                             else v for k, v in record.items()})
    return path
