"""Ruleset files: CONTRACT.md's schema, refused with the key's name when wrong."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.durations import Duration
from ledger.rulesets import RulesetError, example_ruleset_text, parse_ruleset, select_ruleset
from ledger.store import Ledger, RulesetStream
from tests.cli_runner import pbr

EXAMPLE = example_ruleset_text()


def refusal(text: str) -> RulesetError:
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(text)
    return caught.value


def test_the_example_ruleset_is_valid():
    ruleset = parse_ruleset(EXAMPLE)
    assert ruleset.outcomes.drug_free_final.instalments[-1] == Duration(12, "m")
    assert ruleset.amount(Decimal("2000.00"), 3) == Decimal("4000.00")
    assert ruleset.amount(Decimal("2000.00"), None) == Decimal("2000.00")


@pytest.mark.parametrize(("old", "new", "key"), [
    ('relapse = "after_final_window"', 'relapse = "sometimes"', "relapse"),
    ('min_review_gap = "28d"', 'min_review_gap = "four weeks"', "min_review_gap"),
    ('payment_period = "quarter"', 'payment_period = "year"', "payment_period"),
    ('tariff = "2000.00"', 'tariff = "2000.001"', "outcomes.drug_free_final.tariff"),
    ('tariff = "2000.00"', 'tariff = 2000', "outcomes.drug_free_final.tariff"),
    ('window = "12m"\nlag = "8w"', 'window = "9m"\nlag = "8w"', "outcomes.drug_free_final.window"),
    ('["3m", "6m", "9m", "12m"]', '["3m", "6m", "9m"]', "outcomes.drug_free_final.instalments"),
    ('clock_reset = false', 'clock_reset = false\nreset = 1', "outcomes.offending_initial.reset"),
    ('effective_from = "2012-04-01"', 'effective_from = "2012-02-30"', "effective_from"),
    ('id = "example-2012"', 'name = "x"', "name"),
    ('id = "example-2012"', '', "id"),
    ('effective_from = "2012-04-01"', 'effective_from = "2012-W14-1"', "effective_from"),
    ('effective_from = "2012-04-01"', 'effective_from = "20120401"', "effective_from"),
    ('effective_from = "2012-04-01"', 'effective_from = "3000-01-01"', "effective_from"),
    ('clawback = true', 'clawback = "no"', "clawback"),
    ('clawback = true', 'clawback = 0', "clawback"),
    ('clock_reset = false', 'clock_reset = "false"', "outcomes.offending_initial.clock_reset"),
    ('alcohol_max_days = 0', 'alcohol_max_days = "5"',
     "outcomes.drug_free_initial.alcohol_max_days"),
    ('psychological_health = 13', 'psychological_health = 13.0',
     "outcomes.wellbeing.norm.psychological_health"),
    ('2 = "1.5"', '2 = "-1.5"', "band_multipliers.2"),
    ('effective_from = "2012-04-01"', 'effective_from = 9999-12-31', "effective_from"),
    ('effective_from = "2012-04-01"', 'effective_from = 1333238400', "effective_from"),
    ('effective_from = "2012-04-01"', 'effective_from = 2012-04-01T00:00:00', "effective_from"),
])
def test_a_bad_ruleset_is_refused_naming_the_key(old, new, key):
    assert refusal(EXAMPLE.replace(old, new, 1)).key == key


def test_a_missing_tariff_is_refused():
    text = EXAMPLE.replace('tariff = "250.00"\nlag = "4w"\n\n[outcomes.housing]',
                           'lag = "4w"\n\n[outcomes.housing]', 1)
    assert refusal(text).key == "outcomes.injecting.tariff"


def test_an_unknown_outcome_is_refused():
    assert refusal(EXAMPLE + '\n[outcomes.happiness]\ntariff = "1.00"\nlag = "4w"\n').key == \
        "outcomes.happiness"


def test_publishing_a_bad_ruleset_exits_two_naming_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(EXAMPLE.replace('lag = "8w"', 'lag = "8x"'))
    result = pbr("rules", "publish", path, "--db", f"sqlite:///{tmp_path}/x.db")
    assert result.exit_code == 2
    assert "outcomes.drug_free_final.lag" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_site_specific_ruleset_wins_over_the_general_one():
    general = parse_ruleset(EXAMPLE)
    local = parse_ruleset(EXAMPLE.replace('id = "example-2012"', 'id = "s1-2012"')
                          .replace('sites = ["*"]', 'sites = ["S1"]')
                          .replace('effective_from = "2012-04-01"',
                                   'effective_from = "2012-01-01"'))
    assert select_ruleset([general, local], "S1", date(2012, 6, 1)).id == "s1-2012"
    assert select_ruleset([general, local], "S2", date(2012, 6, 1)).id == "example-2012"
    assert select_ruleset([general, local], "S2", date(2012, 3, 31)) is None


@settings(max_examples=300)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
       st.integers(min_value=0, max_value=60), st.sampled_from("dwm"))
def test_a_duration_before_a_date_is_the_calendar_arithmetic_of_section_1(end, count, unit):
    step = {"d": relativedelta(days=count), "w": relativedelta(weeks=count),
            "m": relativedelta(months=count)}[unit]
    assert Duration(count, unit).before(end) == end - step
    assert Duration(count, unit).after(end) == end + step


def test_a_toml_date_is_a_date():
    assert parse_ruleset(EXAMPLE.replace('effective_from = "2012-04-01"',
                                         "effective_from = 2012-04-01")).effective_from == \
        date(2012, 4, 1)


def test_a_ruleset_published_before_a_check_was_added_is_still_read_as_it_was_accepted(tmp_path):
    # Published (as stored text) when clawback = "no" and a negative multiplier were accepted:
    # the ledger and every run under that ruleset must stay readable.
    text = EXAMPLE.replace("clawback = true", 'clawback = "no"').replace('2 = "1.5"',
                                                                        '2 = "-1.5"')
    ledger = Ledger(f"sqlite:///{tmp_path / 'pbr.db'}")
    ledger.save(RulesetStream(ruleset_id="example-2012", text=text, digest="stored-earlier"))
    [ruleset] = ledger.rulesets()
    assert ruleset.clawback is False and ruleset.multiplier(2) == Decimal("-1.5")
    assert refusal(text).key == "clawback"  # publishing it now is refused
    ledger.close()
