"""Every scenario of ``tests/scenarios`` through the command line: import, publish, outcomes.

Each runs on SQLite and, when ``PBR_TEST_POSTGRES_URL`` is set, on PostgreSQL (``db_url``).
"""

from __future__ import annotations

import json

import pytest

from tests.cli_runner import pbr
from tests.scenario_loader import Scenario, all_scenarios

SCENARIOS = all_scenarios()


def _outcomes(scenario: Scenario, tmp_path, db: str) -> list[dict]:
    (tmp_path / "rules.toml").write_text(scenario.ruleset)
    published = pbr("rules", "publish", tmp_path / "rules.toml", "--db", db)
    assert published.exit_code == 0, published.stderr
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in scenario.records) + "\n")
    imported = pbr("import", records, "--db", db, "--json")
    assert imported.exit_code == 0, imported.stdout
    args = ["outcomes", "--as-of", scenario.as_of, "--db", db, "--json"]
    if scenario.known_on:
        args += ["--known-on", scenario.known_on]
    result = pbr(*args)
    assert result.exit_code == 0, result.stderr
    return result.json()["outcomes"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.path.stem for s in SCENARIOS])
def test_scenario(scenario: Scenario, tmp_path, db_url: str):
    outcomes = _outcomes(scenario, tmp_path, db_url)
    for expected in scenario.expect:
        client = expected.get("client", "C1")
        journey = expected.get("journey", "J1")
        found = [o for o in outcomes if o["client"] == client and o["journey"] == journey
                 and o["outcome"] == expected["outcome"]]
        assert len(found) == 1, f"{scenario.name}: no single {expected['outcome']} row"
        row = found[0]
        for field, value in expected.items():
            if field in ("client", "journey", "outcome"):
                continue
            if field == "explanation_includes":
                for words in value:
                    assert words in row["explanation"], (
                        f"{scenario.name}: {expected['outcome']} explanation lacks {words!r} "
                        f"({row['explanation']})")
                continue
            if field == "instalments":
                got = [{k: i[k] for k in v} for i, v in zip(row["instalments"], value,
                                                            strict=True)]
                want = [{k: _text(x) for k, x in v.items()} for v in value]
                assert got == want, f"{scenario.name}: instalments"
                continue
            assert row[field] == _text(value), (
                f"{scenario.name}: {expected['outcome']} {field} is {row[field]!r}, expected "
                f"{value!r} ({row['explanation']})")


def _text(value):
    """YAML reads dates as dates and amounts as numbers or text: compare as the JSON has them."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return str(value)
