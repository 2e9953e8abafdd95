"""``pbr compare`` and ``pbr forecast`` (RULES.md §11, §12): scenario cases worked by hand, the
projection tables agreeing with the derivation, and the negative space of the command line."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from ledger.compare import Derivation, compare, derive_tallies, load_rulesets
from ledger.forecast import forecast_document
from ledger.importer import Importer
from ledger.refusals import Refused
from ledger.rulesets import example_ruleset_text, parse_ruleset
from ledger.runs import take_run
from ledger.simulation import write_pilot
from ledger.store import Ledger
from ledger.views import Projection
from projections.compare import (
    as_if_governing,
    cycles_differ,
    differing_outcomes,
    offences_alone_differ,
    report,
    window_alone_differs,
)
from projections.forecast import _round_pence, period_ends, rates
from projections.history import build_history
from tests.cli_runner import pbr
from tests.scenario_loader import complete_records

ROOT = Path(__file__).resolve().parents[1]
FOLDER = Path(__file__).parent / "scenarios_commissioning"
CASES = sorted(FOLDER.glob("*.yaml"))
EXAMPLE = ROOT / "ledger" / "data" / "example-2012.toml"
OPTIONS = sorted((ROOT / "ledger" / "data" / "options").glob("*.toml"))


def _text(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _ledger_for(case: dict, tmp_path: Path, db: str) -> str:
    ruleset = example_ruleset_text()
    for old, new in case.get("ruleset_changes", []):
        assert old in ruleset
        ruleset = ruleset.replace(old, new, 1)
    (tmp_path / "rules.toml").write_text(ruleset)
    assert pbr("rules", "publish", tmp_path / "rules.toml", "--db", db).exit_code == 0
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in complete_records(case["records"])) + "\n")
    imported = pbr("import", records, "--db", db, "--json")
    assert imported.exit_code == 0, imported.stdout
    return str(tmp_path / "rules.toml")


def _check_compare(case: dict, document: dict) -> None:
    expect = case["expect"]
    rulesets = document["rulesets"]
    assert [r["total"] for r in rulesets] == expect["totals"]
    difference = rulesets[1]["difference"]
    for key, value in expect["difference"].items():
        found = difference["total"] if key == "total" else difference["by_outcome"][key]
        assert found == value, key
    for index, ruleset in enumerate(rulesets):
        got = {(p["substance_group"], p["offended_before"], p["injecting"],
                p["housing_problem"], p["lasars_band"]): p for p in ruleset["profiles"]}
        assert len(got) == len(expect["profiles"])
        for want in expect["profiles"]:
            row = got[tuple(want["profile"])]
            assert row["journeys"] == want["journeys"]
            assert row["max_earnable"] == want["max_earnable"][index], (ruleset["ruleset"],
                                                                        want["profile"])
            if index == 0:
                assert (row["total"], row["mean"]) == (want["total"], want["mean"])


def _check_forecast(case: dict, document: dict) -> None:
    expect = case["expect"]
    assert [p["period_end"] for p in document["periods"]] == [
        _text(p["period_end"]) for p in expect["periods"]]
    for got, want in zip(document["periods"], expect["periods"], strict=True):
        assert got["providers"] == want["providers"], want["period_end"]
    assert len(document["unscheduled"]) == expect["unscheduled_count"]
    for item in expect["unscheduled"]:
        assert item in document["unscheduled"]
    for rate in expect["rates"]:
        assert rate in document["rates"]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_commissioning_scenario(path: Path, tmp_path: Path, db_url: str):
    case = yaml.safe_load(path.read_text())
    _ledger_for(case, tmp_path, db_url)
    as_of = _text(case["as_of"])
    if case["kind"] == "compare":
        result = pbr("compare", str(EXAMPLE), str(ROOT / case["compare_with"]), "--as-of",
                     as_of, "--db", db_url, "--json")
        assert result.exit_code == 0, result.stderr
        _check_compare(case, result.json())
    else:
        result = pbr("forecast", "--as-of", as_of, "--db", db_url, "--json")
        assert result.exit_code == 0, result.stderr
        _check_forecast(case, result.json())


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_commissioning_scenario_reads_the_same_from_the_projection_tables(path: Path,
                                                                         tmp_path: Path):
    case = yaml.safe_load(path.read_text())
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    published = _ledger_for(case, tmp_path, db)
    as_of = _text(case["as_of"])
    assert pbr("projections", "rebuild", "--as-of", as_of, "--db", db).exit_code == 0
    if case["kind"] == "compare":
        result = pbr("compare", published, str(ROOT / case["compare_with"]), "--as-of",
                     as_of, "--db", db, "--json")
        reusable = case.get("projection_reusable", True)
        assert result.json()["first_from_projection"] is reusable
        _check_compare(case, result.json())
    else:
        result = pbr("forecast", "--as-of", as_of, "--db", db, "--json")
        assert result.json()["from_projection"] is True
        _check_forecast(case, result.json())


@pytest.fixture(scope="module")
def pilot(tmp_path_factory) -> str:
    """A small simulated pilot with the example ruleset published and two runs recorded."""
    folder = tmp_path_factory.mktemp("pilot")
    write_pilot(300, 7, folder / "pilot.jsonl")
    url = f"sqlite:///{folder / 'ledger.db'}"
    ledger = Ledger(url)
    ledger.publish_ruleset(example_ruleset_text())
    Importer(ledger).run([folder / "pilot.jsonl"])
    for day in (date(2013, 3, 31), date(2013, 6, 30), date(2013, 9, 30)):
        take_run(ledger, day, day)
    ledger.close()
    return url


def _copy(url: str, tmp_path: Path) -> Ledger:
    target = tmp_path / "copy.db"
    target.write_bytes(Path(url.removeprefix("sqlite:///")).read_bytes())
    return Ledger(f"sqlite:///{target}")


def test_every_option_compared_from_the_projection_equals_the_full_derivation(pilot, tmp_path):
    day = date(2014, 6, 30)
    derived_ledger = Ledger(pilot, create=False)
    rulesets = load_rulesets(derived_ledger, ["example-2012", *map(str, OPTIONS)])
    derived = compare(derived_ledger, rulesets, day, day)
    projected_ledger = _copy(pilot, tmp_path)
    Projection(projected_ledger).rebuild(day)
    projected = compare(projected_ledger, rulesets, day, day)
    assert derived.pop("first_from_projection") is False
    assert projected.pop("first_from_projection") is True
    assert derived == projected
    # Each option on its own: those that change only outcomes no TOP decides (1.2, 3.1, 3.2)
    # are derived without reading a TOP record, the profiles taken from the projection.
    for option in rulesets[1:]:
        pair = [rulesets[0], option]
        alone, tables = compare(derived_ledger, pair, day, day), compare(projected_ledger,
                                                                         pair, day, day)
        alone.pop("first_from_projection")
        tables.pop("first_from_projection")
        assert alone == tables, option.id


def _derived_in_full(ledger: Ledger, rulesets: list, day: date) -> dict:
    """The comparison with no shortcut: every ruleset derived in full for every client."""
    tallies = derive_tallies(ledger, [as_if_governing(r) for r in rulesets],
                             [Derivation(n, None, 1, n) for n in range(len(rulesets))], day, day,
                             workers=1)
    return report(list(zip(rulesets, tallies, strict=True)), day, day)


def test_every_shortcut_gives_what_deriving_both_rulesets_in_full_gives(pilot, tmp_path):
    # Each option against the example, derived by the plan's shortcuts (only the outcomes it
    # sets differently; only offenders; only clients with more than one journey; for 1.2's
    # window, every outcome only of the clients whose cycles it changes), from the derivation
    # and from the projection tables, equals both rulesets derived in full for every client.
    day = date(2014, 6, 30)
    derived_ledger = Ledger(pilot, create=False)
    projected_ledger = _copy(pilot, tmp_path)
    Projection(projected_ledger).rebuild(day)
    for option in OPTIONS:
        pair = load_rulesets(derived_ledger, ["example-2012", str(option)])
        full = _derived_in_full(derived_ledger, pair, day)
        for ledger in (derived_ledger, projected_ledger):
            shortcut = compare(ledger, pair, day, day)
            shortcut.pop("first_from_projection")
            assert shortcut == full, option.name


def test_a_changed_final_window_derives_every_outcome_only_where_the_cycles_change(pilot):
    day = date(2014, 6, 30)
    ledger = Ledger(pilot, create=False)
    first = parse_ruleset(EXAMPLE.read_text())
    by_client, _ = ledger.records_by_client(day)
    histories = [h for h in (build_history(events, day, day) for events in by_client.values())
                 if h is not None]
    for name in ("option-final-window-6m", "option-final-window-18m"):
        other = parse_ruleset((ROOT / f"ledger/data/options/{name}.toml").read_text())
        assert window_alone_differs(first, other) == frozenset({"drug_free_final"})
        changed = [h for h in histories if cycles_differ(h, first, other)]
        # The pilot has clients the shortcut must not drop: their cycles change.
        assert changed, name
        assert all(len(h.journeys) > 1 for h in changed)
    single = parse_ruleset((ROOT / "ledger/data/options/option-final-single-payment.toml")
                           .read_text())
    assert window_alone_differs(first, single) is None


def test_each_option_alone_gives_what_the_full_derivation_of_it_gives(pilot):
    # A partial derivation (only the outcomes that differ) against deriving the option first.
    ledger = Ledger(pilot, create=False)
    day = date(2014, 6, 30)
    for option in OPTIONS:
        pair = load_rulesets(ledger, ["example-2012", str(option)])
        alone = compare(ledger, [pair[1], pair[0]], day, day)["rulesets"][0]
        together = compare(ledger, pair, day, day)["rulesets"][1]
        for key in ("total", "by_outcome", "by_provider", "by_site", "profiles"):
            assert alone[key] == together[key], (option.name, key)


def test_the_forecast_from_the_projection_equals_the_derived_forecast(pilot, tmp_path):
    day = date(2013, 9, 30)
    derived = forecast_document(Ledger(pilot, create=False), day, 4)
    copy = _copy(pilot, tmp_path)
    Projection(copy).rebuild(day)
    projected = forecast_document(copy, day, 4)
    assert (derived.pop("from_projection"), projected.pop("from_projection")) == (False, True)
    assert derived == projected


def test_the_backtest_sets_each_forecast_beside_what_the_runs_paid(pilot):
    result = pbr("forecast", "--backtest", "--periods", "2", "--db", pilot, "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["taken"] == ["2013-03-31", "2013-06-30", "2013-09-30"]
    rows = document["rows"]
    assert {row["horizon"] for row in rows} == {1, 2}
    # Horizon 1 has two forecasts with a run at their next period end; horizon 2 has one.
    assert {row["forecasts"] for row in rows if row["horizon"] == 1} == {2}
    assert {row["forecasts"] for row in rows if row["horizon"] == 2} == {1}
    text = pbr("forecast", "--backtest", "--periods", "2", "--db", pilot)
    assert "1 ahead" in text.stdout and "%" in text.stdout


def test_compare_and_forecast_write_self_contained_pages(pilot, tmp_path):
    for args, name in ((["compare", "example-2012", str(OPTIONS[0]), "--as-of", "2014-06-30"],
                        "compare.html"),
                       (["forecast", "--as-of", "2013-09-30"], "forecast.html"),
                       (["forecast", "--backtest"], "backtest.html")):
        page = tmp_path / name
        result = pbr(*args, "--db", pilot, "--html", page)
        assert result.exit_code == 0, result.stderr
        html = page.read_text()
        assert html.startswith("<!DOCTYPE html>") and "<svg" in html
        assert "<script" not in html and " src=" not in html and " href=" not in html


@pytest.mark.parametrize(("args", "words"), [
    (["compare", "example-2012"], "too_few_rulesets"),
    (["compare", "example-2012", "no-such-ruleset"], "unknown_ruleset"),
    (["compare", "example-2012", "example-2012"], "duplicate_ruleset_id"),
    (["compare", "example-2012", "example-2012", "--as-of", "2013-02-30"], "--as-of"),
    (["forecast", "--periods", "0"], "--periods"),
    (["forecast", "--backtest", "--as-of", "2013-01-01"], "no --as-of"),
])
def test_bad_compare_and_forecast_usage_is_one_line_and_exit_2(pilot, args, words):
    result = pbr(*args, "--db", pilot)
    assert result.exit_code == 2
    assert words in result.stderr and "Traceback" not in result.stderr


def test_a_ruleset_file_that_is_refused_names_its_key(pilot, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(example_ruleset_text().replace('id = "example-2012"', 'id = "bad"')
                   .replace("lag = \"4w\"\nalcohol_max_days", "lagg = \"4w\"\nalcohol_max_days"))
    result = pbr("compare", "example-2012", bad, "--db", pilot)
    assert result.exit_code == 2
    assert "bad_ruleset_file" in result.stderr and "lagg" in result.stderr


def test_forecast_and_backtest_refuse_a_ledger_without_rulesets_or_runs(tmp_path):
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    Ledger(db).close()
    assert "no_ruleset" in pbr("forecast", "--as-of", "2013-01-01", "--db", db).stderr
    Ledger(db).publish_ruleset(example_ruleset_text())
    result = pbr("forecast", "--backtest", "--db", db)
    assert result.exit_code == 2 and "no_runs" in result.stderr


def test_a_reading_command_never_creates_a_ledger(tmp_path):
    db = f"sqlite:///{tmp_path / 'none.db'}"
    assert pbr("forecast", "--db", db).exit_code == 2
    assert not (tmp_path / "none.db").exists()


# Pure pieces ----------------------------------------------------------------------------------


def _example(**changes: str) -> object:
    text = example_ruleset_text()
    for old, new in changes.items():
        text = text.replace(old.replace("_", " "), new)
    return parse_ruleset(text)


def test_an_option_differing_in_one_outcome_derives_only_that_outcome():
    first = parse_ruleset(EXAMPLE.read_text())
    single = parse_ruleset((ROOT / "ledger/data/options/option-final-single-payment.toml")
                           .read_text())
    assert differing_outcomes(first, single) == frozenset({"drug_free_final"})


def test_a_changed_final_window_or_relapse_policy_derives_everything_again():
    first = parse_ruleset(EXAMPLE.read_text())
    for name in ("option-final-window-6m", "option-relapse-never"):
        other = parse_ruleset((ROOT / f"ledger/data/options/{name}.toml").read_text())
        assert differing_outcomes(first, other) is None


def test_one_of_the_initial_alternatives_differing_derives_both():
    first = parse_ruleset(EXAMPLE.read_text())
    other = parse_ruleset((ROOT / "ledger/data/options/option-initial-with-reduction.toml")
                          .read_text())
    assert differing_outcomes(first, other) == frozenset({"drug_free_initial",
                                                          "drug_reduction_initial"})


def test_only_offenders_are_derived_again_when_the_rulesets_differ_in_which_offences_count():
    first = parse_ruleset(EXAMPLE.read_text())
    trigger = parse_ruleset((ROOT / "ledger/data/options/option-trigger-offences-only.toml")
                            .read_text())
    cohort = parse_ruleset((ROOT / "ledger/data/options/option-offending-cohort.toml")
                           .read_text())
    offending = frozenset({"offending_initial", "offending_final"})
    assert offences_alone_differ(first, trigger, differing_outcomes(first, trigger))
    assert not offences_alone_differ(first, cohort, offending)
    assert not offences_alone_differ(first, first, frozenset({"drug_free_final"}))


def test_a_rate_is_pooled_below_30_decided_and_its_own_from_30():
    found = rates({("A", "housing", None): (29, 29), ("B", "housing", None): (30, 15),
                   ("C", "injecting", None): (0, 0)})
    assert found[("A", "housing", None)].pooled is True
    assert found[("A", "housing", None)].value == Fraction(44, 59)
    assert found[("B", "housing", None)].pooled is False
    assert found[("B", "housing", None)].value == Fraction(1, 2)
    assert found[("C", "injecting", None)].value is None


def test_expected_rounds_half_up_to_the_penny_once():
    assert _round_pence(Fraction(1, 2)) == Decimal("0.01")
    assert _round_pence(Fraction(49, 100)) == Decimal("0.00")
    assert _round_pence(Fraction(100000, 3)) == Decimal("333.33")


def test_the_forecast_periods_are_those_after_the_one_e_falls_in():
    assert period_ends(date(2013, 3, 31), 2, "quarter") == [date(2013, 6, 30),
                                                            date(2013, 9, 30)]
    assert period_ends(date(2013, 4, 1), 1, "quarter") == [date(2013, 9, 30)]
    assert period_ends(date(2013, 1, 31), 2, "month") == [date(2013, 2, 28), date(2013, 3, 31)]


def test_worker_processes_give_what_one_process_gives(pilot, tmp_path, monkeypatch):
    import ledger.compare as service

    day = date(2014, 6, 30)
    copy = _copy(pilot, tmp_path)
    Projection(copy).rebuild(day)
    names = ["option-trigger-offences-only", "option-final-single-payment",
             "option-relapse-never", "option-final-window-6m"]
    rulesets = load_rulesets(copy, ["example-2012", *(str(ROOT / "ledger/data/options" /
                                                          f"{name}.toml") for name in names)])
    for option in rulesets[1:]:
        pair = [rulesets[0], option]
        alone = compare(copy, pair, day, day, workers=1)
        monkeypatch.setattr(service, "PARALLEL_FROM_EVENTS", 0)
        forked = compare(copy, pair, day, day, workers=2)
        monkeypatch.setattr(service, "PARALLEL_FROM_EVENTS", 50_000)
        assert alone == forked, option.id


def test_rulesets_chosen_by_id_take_shipped_options_by_id_and_never_open_a_file(pilot):
    ledger = Ledger(pilot, create=False)
    try:
        chosen = load_rulesets(ledger, ["example-2012", "option-final-window-6m"], files=False)
        shipped = load_rulesets(ledger, ["example-2012", str(OPTIONS[0])])
        assert [r.id for r in chosen] == ["example-2012", "option-final-window-6m"]
        assert chosen[0] == shipped[0]
        with pytest.raises(Refused) as refused:
            load_rulesets(ledger, ["example-2012", str(OPTIONS[0])], files=False)
        assert refused.value.code == "unknown_ruleset"
        with pytest.raises(Refused) as unknown:  # by id, only with files=False
            load_rulesets(ledger, ["example-2012", "option-final-window-6m"])
        assert unknown.value.code == "unknown_ruleset"
    finally:
        ledger.close()
