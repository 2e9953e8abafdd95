"""Every case of ``tests/scenarios_diagnostics`` through ``pbr diagnostics --json``.

A case is records (CONTRACT.md's format; ``source_id``, ``received_on`` and ``client`` may be
left out, and each client is registered in site S1 unless the case registers it), an optional
list of ``ruleset_changes``, the period (``from``, ``to``), ``known_on`` and ``expect``: per
group (``SITE/PROVIDER``, a site's code or ``all``) the indicators to check, worked out by hand
in the case's comments. Each case runs on SQLite and, when ``PBR_TEST_POSTGRES_URL`` is set, on
PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.rulesets import example_ruleset_text
from tests.cli_runner import pbr
from tests.scenario_loader import complete_records

FOLDER = Path(__file__).parent / "scenarios_diagnostics"
CASES = sorted(FOLDER.glob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text())
    ruleset = example_ruleset_text()
    for old, new in case.get("ruleset_changes", []):
        assert old in ruleset, f"{path.name}: ruleset text {old!r} not found"
        ruleset = ruleset.replace(old, new, 1)
    case["ruleset"] = ruleset
    case["records"] = complete_records(case["records"])
    return case


def _groups(case: dict[str, Any], tmp_path: Path, db: str) -> dict[str, dict[str, Any]]:
    (tmp_path / "rules.toml").write_text(case["ruleset"])
    assert pbr("rules", "publish", tmp_path / "rules.toml", "--db", db).exit_code == 0
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in case["records"]) + "\n")
    imported = pbr("import", records, "--db", db, "--json")
    assert imported.exit_code == 0 and imported.json()["rejected"] == 0, imported.stdout
    result = pbr("diagnostics", "--as-of", str(case["to"]), "--from", str(case["from"]),
                 "--to", str(case["to"]), "--known-on", str(case["known_on"]), "--db", db,
                 "--json")
    assert result.exit_code == 0, result.stderr
    return {(f"{group['site']}/{group['provider']}" if group["provider"] else
             group["site"] or "all"): group for group in result.json()["groups"]}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_diagnostics_case(path: Path, tmp_path: Path, db_url: str):
    case = _load(path)
    groups = _groups(case, tmp_path, db_url)
    for name, expected in case["expect"].items():
        assert name in groups, f"{case['name']}: no group {name} (found {sorted(groups)})"
        found = groups[name]["indicators"]
        for indicator, value in expected.items():
            assert found[indicator] == value, (
                f"{case['name']}: {name} {indicator} is {found[indicator]!r}, expected "
                f"{value!r}")


def test_every_indicator_has_a_case():
    checked = {indicator for path in CASES
               for expected in yaml.safe_load(path.read_text())["expect"].values()
               for indicator in expected}
    assert checked >= {"starts", "band_mix", "discharges", "completion_rate", "drop_out_rate",
                       "declined_rate", "parked", "parked_rate", "deaths_per_1000",
                       "abstinent_at_review", "pairs_near_min_gap", "representation_rate"}
