"""``pbr outcomes``, ``pbr explain`` and ``pbr clock`` through the command line."""

from __future__ import annotations

import pytest

from ledger.rulesets import example_ruleset_text
from tests.cli_runner import pbr
from tests.records_io import write_jsonl

RECORDS = [
    {"type": "client_registered", "source_id": "reg", "received_on": "2012-05-01",
     "client": "C4", "site": "S1", "date_of_birth": "1980-01-01"},
    {"type": "treatment_started", "source_id": "start", "received_on": "2012-05-01",
     "client": "C4", "journey": "J1", "provider": "P1", "on": "2012-05-01",
     "substances": ["opiates"], "injecting": False, "housing": "none",
     "hepb_vaccination_needed": False},
    {"type": "proven_offence", "source_id": "pnc-1", "received_on": "2012-10-01",
     "client": "C4", "offence_on": "2012-08-10", "disposal": "custody",
     "disposal_on": "2012-09-20"},
    {"type": "released_from_custody", "source_id": "rel-1", "received_on": "2013-01-20",
     "client": "C4", "on": "2013-01-15"},
]


@pytest.fixture
def ledger_url(db_url, tmp_path):
    (tmp_path / "rules.toml").write_text(example_ruleset_text())
    pbr("rules", "publish", tmp_path / "rules.toml", "--db", db_url)
    assert pbr("import", write_jsonl(tmp_path / "r.jsonl", RECORDS), "--db",
               db_url).exit_code == 0
    return db_url


def test_outcomes_json_lists_every_switched_on_outcome_with_its_option(ledger_url):
    document = pbr("outcomes", "--as-of", "2014-12-31", "--db", ledger_url, "--json").json()
    assert document["as_of"] == "2014-12-31" and document["known_on"] == "2014-12-31"
    rows = {row["outcome"]: row for row in document["outcomes"]}
    assert len(rows) == 8
    assert (rows["offending_final"]["option"], rows["offending_final"]["evidence_on"],
            rows["offending_final"]["payable_on"]) == ("3.2", "2014-01-15", "2014-11-15")
    assert document["unruled"] == []


def test_explain_names_the_option_the_decisive_records_and_the_reason(ledger_url):
    result = pbr("explain", "C4", "--outcome", "offending_initial", "--as-of", "2014-12-31",
                 "--db", ledger_url)
    assert result.exit_code == 0
    assert "offending_initial (option 3.1)" in result.stdout
    assert "offence_in_window" in result.stdout
    assert "pnc-1" in result.stdout and "2012-08-10" in result.stdout


def test_explain_json_cites_the_records(ledger_url):
    document = pbr("explain", "C4", "--as-of", "2014-12-31", "--db", ledger_url,
                   "--json").json()
    final = next(o for o in document["outcomes"] if o["outcome"] == "offending_final")
    assert {c["source_id"] for c in final["citations"]} >= {"start", "pnc-1", "rel-1"}


def test_clock_lists_each_start_the_reset_and_its_offence_and_the_target(ledger_url):
    document = pbr("clock", "C4", "--as-of", "2013-06-30", "--db", ledger_url, "--json").json()
    (clock,) = document["clocks"]
    assert [(s["on"], s["cause"], s["record"]) for s in clock["starts"]] == [
        ("2012-05-01", "journey_start", "start"), ("2013-01-15", "reset", "pnc-1")]
    assert clock["starts"][1]["release"] == "rel-1"
    assert clock["target_on"] == "2014-01-15" and clock["status"] == "pending"
    text = pbr("clock", "C4", "--as-of", "2013-06-30", "--db", ledger_url).stdout
    assert "reset to 2013-01-15" in text and "target: 2014-01-15" in text


def test_the_clock_is_pending_in_custody_until_the_release_is_known(ledger_url):
    document = pbr("clock", "C4", "--as-of", "2013-01-10", "--db", ledger_url, "--json").json()
    (clock,) = document["clocks"]
    assert clock["reason"] == "in_custody" and clock["target_on"] is None


def test_an_unknown_client_is_exit_two(ledger_url):
    for command in ("explain", "clock"):
        result = pbr(command, "NOBODY", "--db", ledger_url)
        assert result.exit_code == 2 and "NOBODY" in result.stderr


def test_a_bad_date_is_exit_two_naming_the_option(ledger_url):
    result = pbr("outcomes", "--as-of", "2013-02-30", "--db", ledger_url)
    assert result.exit_code == 2 and "--as-of" in result.stderr


def test_a_journey_before_any_ruleset_is_listed_as_unruled(db_url, tmp_path):
    (tmp_path / "rules.toml").write_text(example_ruleset_text())
    pbr("rules", "publish", tmp_path / "rules.toml", "--db", db_url)
    early = [dict(RECORDS[0]), {**RECORDS[1], "on": "2012-03-01", "received_on": "2012-05-01"}]
    pbr("import", write_jsonl(tmp_path / "r.jsonl", early), "--db", db_url)
    document = pbr("outcomes", "--as-of", "2013-12-31", "--db", db_url, "--json").json()
    assert document["outcomes"] == []
    assert document["unruled"] == [{"client": "C4", "journey": "J1", "started_on": "2012-03-01"}]


def test_explain_says_a_journey_left_its_cohort_because_the_client_died_in_the_window(
        db_url, tmp_path):
    """RULES.md §4 cohort, decision 10: the journey's own explanation names the death."""
    from tests.scenario_loader import FOLDER, load_scenario

    scenario = load_scenario(FOLDER / "cohort_death_in_window_leaves_only_an_offence_free_"
                                      "member_out.yaml")
    (tmp_path / "rules.toml").write_text(scenario.ruleset)
    assert pbr("rules", "publish", tmp_path / "rules.toml", "--db", db_url).exit_code == 0
    write_jsonl(tmp_path / "records.jsonl", scenario.records)
    assert pbr("import", tmp_path / "records.jsonl", "--db", db_url).exit_code == 0
    left = pbr("explain", "C1", "--outcome", "offending_final", "--as-of", scenario.as_of,
               "--db", db_url)
    assert left.exit_code == 0, left.stderr
    assert "so the journey is left out of its cohort" in left.stdout
    assert ("record died-2 (dated 2012-12-01, received 2012-12-01): died; left the cohort"
            in left.stdout)
    stayed = pbr("explain", "C2", "--outcome", "offending_final", "--as-of", scenario.as_of,
                 "--db", db_url)
    assert "the journey stays in its cohort with them" in stayed.stdout
    alive = pbr("explain", "C4", "--outcome", "offending_final", "--as-of", scenario.as_of,
                "--db", db_url)
    assert "died" not in alive.stdout
