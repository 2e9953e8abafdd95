"""Explanations a panel can read, replay and reconciliation in words, statements finance can
load, and the command line's loose ends (RULES.md §5, §7), on both backends."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest

from cli.payment_commands import replay_difference_text
from cli.statements import write_xlsx
from ledger.runs import replay_differences
from projections.payments import Line, lines_digest
from tests import hand_ledger
from tests.cli_runner import pbr
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.records_io import write_jsonl


@pytest.fixture
def hand(db_url, tmp_path):
    hand_ledger.build(db_url, tmp_path)
    return db_url


def run(db: str, as_of: str) -> dict:
    result = pbr("payments", "run", "--as-of", as_of, "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    return result.json()


def explain(db: str, client: str, outcome: str, as_of: str) -> dict:
    result = pbr("explain", client, "--outcome", outcome, "--as-of", as_of, "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    (found,) = result.json()["outcomes"]
    return found


# 6. Explanations.

def test_a_death_before_the_evidence_date_reads_failed_and_cites_the_death(hand):
    found = explain(hand, "C6", "offending_initial", "2013-06-30")
    assert (found["status"], found["reason"]) == ("failed", "died")
    assert "achieved" not in found["explanation"]
    assert "died on 2012-06-01" in found["explanation"]
    cited = {c["source_id"]: c for c in found["citations"]}
    assert cited["died-C6"]["on"] == "2012-06-01"
    assert cited["died-C6"]["received_on"] == "2012-06-05"


def test_every_cited_record_shows_its_date_and_when_it_was_received(hand):
    found = explain(hand, "C4", "housing", "2013-06-30")
    assert found["citations"] and all(c["on"] and c["received_on"] for c in found["citations"])
    text = pbr("explain", "C4", "--outcome", "housing", "--as-of", "2013-06-30", "--db", hand)
    assert "record top-C4-review (dated 2012-03-01, received 2012-03-05)" in text.stdout


def test_an_explanation_names_the_retraction_behind_a_clawback_and_the_run_lines(hand,
                                                                               tmp_path):
    run(hand, "2012-06-30")
    write_jsonl(tmp_path / "fix.jsonl", [hand_ledger.RETRACTION])
    assert pbr("import", tmp_path / "fix.jsonl", "--db", hand).exit_code == 0
    run(hand, "2013-09-30")
    found = explain(hand, "C4", "housing", "2013-09-30")
    (retraction,) = found["retractions"]
    assert (retraction["source_id"], retraction["retracts"], retraction["received_on"]) == (
        "fix-C4-review", "top-C4-review", "2013-08-01")
    assert retraction["without_it"]["status"] == "achieved"
    assert [(r["run"], r["kind"], r["amount"]) for r in found["runs"]] == [
        ("R0001", "payment", "250.00"), ("R0002", "clawback", "-250.00")]
    text = pbr("explain", "C4", "--outcome", "housing", "--as-of", "2013-09-30", "--db",
               hand).stdout
    assert "retraction fix-C4-review (received 2013-08-01) withdrew top_recorded" in text
    assert "R0002" in text and "-250.00" in text and "None" not in text


# 7. Replay, reconciliation, remittances, formats and ruleset keys.

def test_replay_text_is_sentences_and_names_a_digest_only_difference():
    line = Line("C2", "J1", "offending_initial", None, "payment", Decimal("500.00"), "P1", "S1")
    changed = Line("C2", "J1", "offending_initial", None, "payment", Decimal("750.00"), "P1",
                   "S1")
    (digest_only,) = replay_differences([line], [line], "0" * 64)
    assert digest_only["change"] == "digest"
    assert lines_digest([line]) in replay_difference_text(digest_only)
    (amount,) = replay_differences([line], [changed], lines_digest([line]))
    words = replay_difference_text(amount)
    assert words == ("client C2 journey J1 offending_initial, payment: amount recorded 500.00, "
                     "replayed 750.00")
    (dropped,) = replay_differences([line], [], lines_digest([line]))
    assert "None" not in replay_difference_text(dropped) and "{" not in (
        replay_difference_text(dropped))


def test_reconcile_of_a_run_with_no_lines_says_so_and_succeeds(db_url, tmp_path):
    hand_ledger.build(db_url, tmp_path, hand_ledger.RECORDS[:2])
    empty = run(db_url, "2012-03-31")
    assert empty["lines"] == []
    result = pbr("reconcile", "--run", empty["run"], "--db", db_url)
    assert result.exit_code == 0 and "nothing to reconcile" in result.stdout
    unknown = pbr("reconcile", "--run", "R0099", "--db", db_url)
    assert unknown.exit_code == 2 and "unknown_run" in unknown.stderr


def test_a_remittance_for_a_provider_with_no_lines_in_the_run_is_rejected(hand, tmp_path):
    paid = run(hand, "2013-06-30")
    path = tmp_path / "remit.csv"
    path.write_text("run,provider,amount,paid_on,reference\n"
                    f"{paid['run']},P9,1.00,2013-07-20,A\n{paid['run']},P2,500.00,2013-07-20,B\n")
    result = pbr("remittances", "import", path, "--db", hand, "--json")
    assert result.exit_code == 1
    assert result.json()["accepted"] == 1
    assert [(r["line"], r["code"]) for r in result.json()["rejects"]] == [
        (2, "provider_not_in_run")]


def test_an_unknown_statement_format_is_named(hand, tmp_path):
    paid = run(hand, "2013-06-30")
    result = pbr("payments", "show", paid["run"], "--format", "pdf", "--output",
                 tmp_path / "x.pdf", "--db", hand)
    assert result.exit_code == 2 and "'pdf' is not a statement format" in result.stderr


def test_a_misspelt_ruleset_key_is_named_as_unknown(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(hand_ledger.RULESET.replace('lag = "4w"', 'lagg = "4w"', 1))
    result = pbr("rules", "publish", rules, "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 2
    assert "lagg: unknown key" in result.stderr and ".lag:" not in result.stderr


# 8. Statements.

def test_the_xlsx_amounts_are_written_from_the_decimal_digits_and_dates_are_dates(tmp_path):
    import zipfile

    from openpyxl import load_workbook
    amount = "99999999999.99"  # "%.16g" of the float would write 99999999999.99001
    document = {"run": "R0001", "as_of": date(2013, 6, 30), "known_on": date(2013, 7, 28),
                "rulesets": ["r"], "position": 1, "digest": "d",
                "lines": [{"client": "C1", "journey": "J1", "outcome": "housing",
                           "instalment": None, "kind": "payment", "amount": amount,
                           "provider": "P1", "site": "S1", "reason": "r"}],
                "totals": {"P1": amount}, "site_totals": {"S1": amount}, "total": amount}
    path = tmp_path / "s.xlsx"
    write_xlsx(document, path)
    sheet_xml = zipfile.ZipFile(path).read("xl/worksheets/sheet2.xml").decode()
    assert f"<v>{amount}</v>" in sheet_xml
    book = load_workbook(path)
    (row,) = book["Lines"].iter_rows(min_row=2, values_only=True)
    assert Decimal(repr(row[5])) == Decimal(amount)
    assert book["Lines"]["F2"].number_format == "#,##0.00"
    inputs = {r[0]: r[1] for r in book["Inputs"].iter_rows(min_row=2, values_only=True)}
    assert inputs["known_on"].date() == date(2013, 7, 28)
    assert book["Lines"].column_dimensions["C"].width >= len("housing")


def test_payments_show_prints_site_totals(hand):
    paid = run(hand, "2013-06-30")
    text = pbr("payments", "show", paid["run"], "--db", hand).stdout
    assert "total site S1: 1750.00" in text and "total site S2: 500.00" in text


# 9. The command line's loose ends.

def test_a_reading_command_on_a_sqlite_file_that_does_not_exist_says_so(tmp_path):
    path = tmp_path / "typo.db"
    for command in (["payments", "list"], ["payments", "show", "R0001"], ["outcomes"],
                    ["explain", "C1"], ["disputes", "list"], ["reconcile"], ["rules", "list"]):
        result = pbr(*command, "--db", f"sqlite:///{path}")
        assert result.exit_code == 2 and "no ledger" in result.stderr, command
    assert not path.exists()
    assert pbr("rules", "publish", tmp_path / "none.toml", "--db",
               f"sqlite:///{path}").exit_code == 2


def test_a_writing_command_creates_the_ledger(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(hand_ledger.RULESET)
    path = tmp_path / "new.db"
    assert pbr("rules", "publish", rules, "--db", f"sqlite:///{path}").exit_code == 0
    assert pbr("payments", "list", "--db", f"sqlite:///{path}").exit_code == 0


@pytest.mark.skipif(not POSTGRES_URL, reason="PBR_TEST_POSTGRES_URL is not set")
def test_a_reading_command_on_a_postgresql_database_without_a_ledger_says_so():
    url = reset_postgres()
    result = pbr("payments", "list", "--db", url)
    assert result.exit_code == 2 and "no ledger" in result.stderr
    from sqlalchemy import create_engine, inspect
    engine = create_engine(url)
    assert not inspect(engine).has_table("ledger_events")
    engine.dispose()


def test_simulate_imports_into_the_ledger_it_is_given(db_url, tmp_path):
    out = tmp_path / "pilot.jsonl"
    result = pbr("simulate", "--clients", "5", "--out", out, "--db", db_url)
    assert result.exit_code == 0, result.stderr
    assert "imported into" in result.stdout and "rejected 0" in result.stdout
    assert pbr("outcomes", "--as-of", "2013-06-30", "--db", db_url).exit_code == 0


def test_demo_json_has_the_outcome_counts_its_text_prints(tmp_path):
    result = pbr("demo", "--clients", "30", "--out", tmp_path / "demo",
                 "--db", f"sqlite:///{tmp_path / 'own.db'}", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (tmp_path / "own.db").exists() and not (tmp_path / "demo" / "pbr-demo.db").exists()
    counts = {row["outcome"]: row for row in document["outcomes"]}
    assert counts and all(isinstance(row["achieved"], int) for row in counts.values())
    assert sum(row["achieved"] + row["failed"] + row["pending"] + row["ineligible"]
               for row in counts.values()) > 0


def test_the_demo_report_has_the_diagnostics_of_each_quarter_a_chart_pair_per_site(tmp_path):
    result = pbr("demo", "--clients", "40", "--out", tmp_path / "demo", "--json")
    assert result.exit_code == 0, result.stderr
    html = (tmp_path / "demo" / "report.html").read_text()
    assert "<h2>Diagnostics: perverse incentives, 2012-04-01 to 2015-03-31</h2>" in html
    sites = sorted(set(re.findall(r"Site (S\d+): flags per quarter", html)))
    # Each site has its completion-rate chart, or, where no provider of it had enough
    # discharges in any quarter to draw one, the note saying so in its place.
    for site in sites:
        chart = f"Site {site}: successful completions" in html
        note = f"Site {site}: no provider had 30 discharges in a quarter" in html
        assert sites and chart != note, site
    assert "2012 Q2" in html and "2015 Q1" in html  # a column per quarter of the pilot
    assert ".sites{" in html  # the section's own style rules are on the page


@pytest.mark.skipif(not POSTGRES_URL, reason="PBR_TEST_POSTGRES_URL is not set")
def test_projections_follow_prints_one_json_document(tmp_path):
    url = reset_postgres()
    hand_ledger.build(url, tmp_path)
    assert pbr("projections", "rebuild", "--as-of", "2013-06-30", "--db", url,
               "--json").exit_code == 0
    result = pbr("projections", "follow", "--for", "0.5", "--db", url, "--json")
    assert result.exit_code == 0, result.stderr
    assert set(result.json()) == {"followed_from", "stopped_at", "applied"}
