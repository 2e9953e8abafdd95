"""Payment runs through the command line (RULES.md §5, §7, §8 example 5), on both backends."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest

from ledger.rulesets import example_ruleset_text
from tests.cli_runner import pbr
from tests.records_io import write_jsonl

# RULES.md §8 example 5 starts its journey on 2012-01-10, before the example ruleset's
# effective_from (2012-04-01): under §6 that journey would be unruled. The example is worked
# with the same ruleset in force from 2012-01-01 (docs/rules/payments.md, decision 1).
RULESET = example_ruleset_text().replace('effective_from = "2012-04-01"',
                                         'effective_from = "2012-01-01"')


def record(kind: str, source_id: str, received_on: str, **fields) -> dict:
    return {"type": kind, "source_id": source_id, "received_on": received_on, "client": "C9",
            **fields}


REGISTRATION = record("client_registered", "reg-C9", "2012-01-10", site="S1",
                      date_of_birth="1970-01-01")
START = record("treatment_started", "start-C9", "2012-01-12", journey="J1", provider="P1",
               on="2012-01-10", substances=["opiates"], injecting=False, housing="none",
               hepb_vaccination_needed=False)
FINE = record("proven_offence", "pnc-fine", "2013-08-01", offence_on="2012-03-01",
              disposal="fine", disposal_on="2013-07-15")
QUASHED = record("correction", "pnc-quash", "2013-10-15", retracts="pnc-fine",
                 reason="conviction quashed on appeal")


@pytest.fixture
def example5(db_url, tmp_path):
    """A ledger with the example's client, journey and ruleset."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULESET)
    assert pbr("rules", "publish", rules, "--db", db_url).exit_code == 0
    assert pbr("import", write_jsonl(tmp_path / "a.jsonl", [REGISTRATION, START]),
               "--db", db_url).exit_code == 0
    return db_url


def run(db_url: str, as_of: str, *extra: str) -> dict:
    result = pbr("payments", "run", "--as-of", as_of, "--db", db_url, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json()


def summary(document: dict) -> list[tuple]:
    return [(line["outcome"], line["instalment"], line["kind"], line["amount"])
            for line in document["lines"]]


def add(db_url: str, tmp_path, name: str, *records: dict) -> None:
    assert pbr("import", write_jsonl(tmp_path / name, list(records)), "--db",
               db_url).exit_code == 0


def test_example_5_pays_claws_back_on_late_data_and_pays_again_after_a_retraction(example5,
                                                                                 tmp_path):
    first = run(example5, "2013-06-30")
    assert summary(first) == [("offending_initial", None, "payment", "500.00")]
    assert first["totals"] == {"P1": "500.00"} and first["total"] == "500.00"
    add(example5, tmp_path, "fine.jsonl", FINE)
    second = run(example5, "2013-09-30")
    assert summary(second) == [("offending_initial", None, "clawback", "-500.00")]
    add(example5, tmp_path, "quash.jsonl", QUASHED)
    third = run(example5, "2013-12-31")
    assert sorted(summary(third)) == [("offending_final", None, "payment", "1500.00"),
                                      ("offending_initial", None, "payment", "500.00")]
    for document in (first, second, third):
        replay = pbr("payments", "replay", document["run"], "--db", example5, "--json")
        assert replay.exit_code == 0 and replay.json()["identical"] is True


def test_replaying_the_first_run_still_gives_the_payment(example5, tmp_path):
    first = run(example5, "2013-06-30")
    add(example5, tmp_path, "fine.jsonl", FINE)
    run(example5, "2013-09-30")
    shown = pbr("payments", "show", first["run"], "--db", example5, "--json").json()
    assert summary(shown) == [("offending_initial", None, "payment", "500.00")]
    assert pbr("payments", "replay", first["run"], "--db", example5).exit_code == 0


def test_a_run_known_on_an_earlier_date_does_not_see_later_records(example5, tmp_path):
    add(example5, tmp_path, "fine.jsonl", FINE)
    document = run(example5, "2013-06-30", "--known-on", "2013-06-30")
    assert summary(document) == [("offending_initial", None, "payment", "500.00")]


def paid_without_clawback(db_url: str, tmp_path) -> None:
    """The example's journey under the ruleset with ``clawback = false``, paid as of 2013-06-30."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULESET.replace("clawback = true", "clawback = false"))
    pbr("rules", "publish", rules, "--db", db_url)
    add(db_url, tmp_path, "a.jsonl", REGISTRATION, START)
    run(db_url, "2013-06-30")


def test_with_clawback_off_the_overpayment_is_reported_not_recovered(db_url, tmp_path):
    paid_without_clawback(db_url, tmp_path)
    add(db_url, tmp_path, "fine.jsonl", FINE)
    second = run(db_url, "2013-09-30")
    assert second["lines"] == []
    assert [(o["outcome"], o["paid"], o["payable"]) for o in second["overpayments"]] == [
        ("offending_initial", "500.00", "0.00")]


RETRACT_START = record("correction", "fix-start", "2013-08-01", retracts="start-C9",
                       reason="started in error")


def test_a_payment_no_longer_derived_is_recovered_from_its_provider_and_site(example5, tmp_path):
    run(example5, "2013-06-30")
    add(example5, tmp_path, "fix.jsonl", RETRACT_START)  # the journey itself is withdrawn
    second = run(example5, "2013-09-30")
    assert [(line["outcome"], line["kind"], line["amount"], line["provider"], line["site"])
            for line in second["lines"]] == [
        ("offending_initial", "clawback", "-500.00", "P1", "S1")]
    assert second["totals"] == {"P1": "-500.00"}


def test_with_clawback_off_a_payment_no_longer_derived_is_reported_not_recovered(db_url,
                                                                                 tmp_path):
    paid_without_clawback(db_url, tmp_path)
    add(db_url, tmp_path, "fix.jsonl", RETRACT_START)
    second = run(db_url, "2013-09-30")
    assert second["lines"] == []
    assert [(o["outcome"], o["paid"], o["payable"], o["provider"], o["site"])
            for o in second["overpayments"]] == [
        ("offending_initial", "500.00", "0.00", "P1", "S1")]


def test_a_payment_no_longer_derived_follows_the_clawback_of_the_ruleset_that_governs_it(
        example5, tmp_path):
    # A site-specific ruleset (no clawback) governs S1 over the general one (clawback): once the
    # journey is retracted, what it was paid is reported, not recovered, as for a late fine.
    own = tmp_path / "s1.toml"
    own.write_text(RULESET.replace('id = "example-2012"', 'id = "s1-no-clawback"')
                   .replace('sites = ["*"]', 'sites = ["S1"]')
                   .replace("clawback = true", "clawback = false"))
    assert pbr("rules", "publish", own, "--db", example5).exit_code == 0
    run(example5, "2013-06-30")
    add(example5, tmp_path, "fix.jsonl", RETRACT_START)
    second = run(example5, "2013-09-30")
    assert second["lines"] == []
    assert [(o["outcome"], o["paid"], o["provider"]) for o in second["overpayments"]] == [
        ("offending_initial", "500.00", "P1")]


def test_a_run_dated_before_the_last_run_is_refused(example5):
    run(example5, "2013-06-30")
    refused = pbr("payments", "run", "--as-of", "2013-03-31", "--db", example5)
    assert refused.exit_code == 2 and "2013-06-30" in refused.stderr


def test_an_upheld_dispute_is_paid_once_as_an_adjustment_in_the_next_run(example5):
    first = run(example5, "2013-06-30")
    raised = pbr("disputes", "raise", "--provider", "P1", "--run", first["run"], "--line", "1",
                 "--reason", "band 2 client paid at band 1", "--on", "2013-07-10",
                 "--db", example5, "--json")
    assert raised.exit_code == 0, raised.stderr
    dispute = raised.json()["dispute"]
    noted = pbr("disputes", "note", dispute, "--note", "LASARS assessment attached",
                "--evidence", "LASARS-2012-0042", "--db", example5)
    assert noted.exit_code == 0
    resolved = pbr("disputes", "resolve", dispute, "--resolution", "upheld", "--amount",
                   "250.00", "--reason", "band 2 confirmed", "--on", "2013-08-01",
                   "--db", example5)
    assert resolved.exit_code == 0, resolved.stderr
    second = run(example5, "2013-09-30")
    assert summary(second) == [("offending_initial", None, "adjustment", "250.00")]
    assert second["lines"][0]["dispute"] == dispute
    third = run(example5, "2013-10-31")
    assert [line for line in third["lines"] if line["kind"] == "adjustment"] == []
    shown = pbr("disputes", "show", dispute, "--db", example5, "--json").json()
    assert shown["status"] == "upheld" and shown["notes"][0]["evidence"] == ["LASARS-2012-0042"]


def test_a_rejected_dispute_adjusts_nothing(example5):
    first = run(example5, "2013-06-30")
    dispute = pbr("disputes", "raise", "--provider", "P1", "--run", first["run"], "--line", "1",
                  "--reason", "x", "--db", example5, "--json").json()["dispute"]
    pbr("disputes", "resolve", dispute, "--resolution", "rejected", "--reason", "no evidence",
        "--db", example5)
    assert run(example5, "2013-09-30")["lines"] == []


def test_reconcile_reports_a_remittance_short_by_a_penny(example5, tmp_path):
    first = run(example5, "2013-06-30")
    remittances = tmp_path / "remit.csv"
    remittances.write_text("run,provider,amount,paid_on,reference\n"
                           f"{first['run']},P1,499.99,2013-07-20,BACS-0001\n")
    imported = pbr("remittances", "import", remittances, "--db", example5, "--json")
    assert imported.json()["accepted"] == 1
    again = pbr("remittances", "import", remittances, "--db", example5, "--json")
    assert again.json()["duplicates"] == 1
    result = pbr("reconcile", "--db", example5, "--json")
    assert result.exit_code == 1
    row = result.json()["rows"][0]
    assert (row["statement"], row["remitted"], row["difference"]) == ("500.00", "499.99",
                                                                      "-0.01")


def test_reconcile_is_clean_when_remitted_in_full(example5, tmp_path):
    first = run(example5, "2013-06-30")
    remittances = tmp_path / "remit.csv"
    remittances.write_text("run,provider,amount,paid_on,reference\n"
                           f"{first['run']},P1,500.00,2013-07-20,BACS-0001\n")
    pbr("remittances", "import", remittances, "--db", example5)
    assert pbr("reconcile", "--run", first["run"], "--db", example5).exit_code == 0


def test_a_bad_remittance_row_is_rejected_with_its_line_and_field(example5, tmp_path):
    run(example5, "2013-06-30")
    remittances = tmp_path / "remit.csv"
    remittances.write_text("run,provider,amount,paid_on,reference\n"
                           "R0009,P1,1.00,2013-07-20,A\nR0001,P1,1.001,2013-07-20,B\n")
    result = pbr("remittances", "import", remittances, "--db", example5, "--json")
    assert result.exit_code == 1
    assert [(r["line"], r["reason"].split(":")[0]) for r in result.json()["rejects"]] == [
        (2, "run"), (3, "amount")]


def test_the_xlsx_statement_holds_the_same_totals_as_json(example5, tmp_path):
    first = run(example5, "2013-06-30")
    path = tmp_path / "statement.xlsx"
    written = pbr("payments", "show", first["run"], "--format", "xlsx", "--output", path,
                  "--db", example5)
    assert written.exit_code == 0, written.stderr
    from openpyxl import load_workbook
    book = load_workbook(path)
    assert book.sheetnames == ["Inputs", "Lines", "Totals"]
    totals = {(row[0], row[1]): row[2] for row in book["Totals"].iter_rows(min_row=2,
                                                                             values_only=True)}
    assert Decimal(str(totals[("provider", "P1")])) == Decimal(first["totals"]["P1"])
    assert Decimal(str(totals[("all", None)])) == Decimal(first["total"])
    inputs = {row[0]: row[1] for row in book["Inputs"].iter_rows(values_only=True)}
    assert inputs["run"] == first["run"] and inputs["as_of"].date() == date(2013, 6, 30)
    assert all(book[name].freeze_panes == "A2" for name in book.sheetnames)


def test_the_csv_statement_is_three_files_each_one_table(example5, tmp_path):
    first = run(example5, "2013-06-30")
    folder = tmp_path / "statement"
    assert pbr("payments", "show", first["run"], "--format", "csv", "--output", folder,
               "--db", example5).exit_code == 0
    tables = {name: list(csv.DictReader((folder / f"{name}.csv").open()))
              for name in ("inputs", "lines", "totals")}
    assert [(r["outcome"], r["amount"]) for r in tables["lines"]] == [("offending_initial",
                                                                       "500.00")]
    assert {(r["level"], r["name"]): r["total"] for r in tables["totals"]} == {
        ("provider", "P1"): "500.00", ("site", "S1"): "500.00", ("all", ""): "500.00"}
    assert {r["field"]: r["value"] for r in tables["inputs"]}["as_of"] == "2013-06-30"


def test_diff_names_the_records_that_changed_a_run(example5, tmp_path):
    first = run(example5, "2013-06-30")
    # Disposed before the run's date, received after its knowledge date: the run missed it.
    late_fine = {**FINE, "source_id": "pnc-late", "disposal_on": "2013-06-20"}
    add(example5, tmp_path, "fine.jsonl", late_fine)
    result = pbr("payments", "diff", first["run"], "--today", "2013-08-02", "--db", example5,
                 "--json")
    assert result.exit_code == 0, result.stderr
    (difference,) = result.json()["differences"]
    assert (difference["outcome"], difference["recorded"], difference["recomputed"]) == (
        "offending_initial", "500.00", None)
    assert [r["source_id"] for r in difference["records"]] == ["pnc-late"]


def test_an_offence_disposed_after_the_run_date_changes_nothing_in_that_run(example5, tmp_path):
    first = run(example5, "2013-06-30")
    add(example5, tmp_path, "fine.jsonl", FINE)  # disposed 2013-07-15: not proven as of E
    result = pbr("payments", "diff", first["run"], "--today", "2013-08-02", "--db", example5,
                 "--json")
    assert result.json()["differences"] == []


def test_payments_list_shows_every_run(example5):
    run(example5, "2013-06-30")
    run(example5, "2013-09-30")
    listed = pbr("payments", "list", "--db", example5, "--json").json()
    assert [r["run"] for r in listed["runs"]] == ["R0001", "R0002"]


def test_showing_an_unknown_run_is_exit_two(example5):
    assert pbr("payments", "show", "R0999", "--db", example5).exit_code == 2


def test_every_run_replays_identically_after_hundreds_of_later_records_and_runs(db_url,
                                                                               tmp_path):
    from ledger.simulation import simulate
    records = list(simulate(150, seed=7))
    early = [r for r in records if r["received_on"] <= "2013-06-30"]
    late = [r for r in records if r["received_on"] > "2013-06-30"]
    assert len(late) > 300 and any(r["type"] == "correction" for r in late)
    rules = tmp_path / "rules.toml"
    rules.write_text(example_ruleset_text())
    pbr("rules", "publish", rules, "--db", db_url)
    add(db_url, tmp_path, "early.jsonl", *early)
    first = run(db_url, "2013-06-30")
    add(db_url, tmp_path, "late.jsonl", *late)
    rules.write_text(example_ruleset_text().replace('id = "example-2012"', 'id = "later-2013"')
                     .replace('effective_from = "2012-04-01"', 'effective_from = "2013-07-01"')
                     .replace('"500.00"', '"550.00"'))
    pbr("rules", "publish", rules, "--db", db_url)
    later = [run(db_url, day) for day in ("2013-09-30", "2014-03-31", "2014-12-31")]
    for document in (first, *later):
        replay = pbr("payments", "replay", document["run"], "--db", db_url, "--json")
        assert replay.json()["identical"] is True, replay.json()["differences"][:3]
    assert first["lines"], "the first run should have paid something"
