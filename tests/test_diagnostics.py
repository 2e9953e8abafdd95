"""Diagnostics (RULES.md §10): the baseline file, the flags by hand, and the command line."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from ledger.baselines import BOUNDED, parse_baseline, read_baseline, shipped_baseline_text
from ledger.rulesets import RulesetError
from projections.diagnostic_flags import baseline_flags, group_flags, peer_flags
from projections.diagnostics import Group, Period, Tally, quarters, rate
from tests.cli_runner import pbr
from tests.scenario_loader import complete_records

BASELINE = read_baseline(None)


def _provider(name: str, completions: int, discharges: int, site: str = "S1") -> Group:
    return Group("provider", site, name, Tally(discharges=discharges, completions=completions))


# Rates ----------------------------------------------------------------------------------------


def test_a_rate_is_rounded_half_up_to_four_places_and_a_zero_denominator_is_null():
    assert rate(1, 3) == Decimal("0.3333")
    assert rate(2, 3) == Decimal("0.6667")
    assert rate(1, 8) == Decimal("0.1250")
    assert rate(1, 20000) == Decimal("0.0001")  # 0.00005 rounds half up
    assert rate(0, 5) == Decimal("0.0000")
    assert rate(0, 0) is None
    assert rate(3, 0, per=1000) is None
    assert rate(1, 3, per=1000) == Decimal("333.3333")


def test_quarters_cover_a_range_cut_to_its_first_and_last_days():
    from datetime import date
    found = quarters(date(2013, 2, 15), date(2013, 10, 1))
    assert found == [Period(date(2013, 2, 15), date(2013, 3, 31)),
                     Period(date(2013, 4, 1), date(2013, 6, 30)),
                     Period(date(2013, 7, 1), date(2013, 9, 30)),
                     Period(date(2013, 10, 1), date(2013, 10, 1))]


# The shipped baseline ------------------------------------------------------------------------


def test_every_bound_of_the_shipped_baseline_names_its_source_and_says_if_it_is_judgement():
    for name, bounds in BASELINE.indicators.items():
        assert name in BOUNDED
        assert bounds.source.strip()
        assert bounds.low is not None or bounds.high is not None
        if bounds.judgement:
            assert bounds.source.startswith("judgement"), name
        else:
            assert "NDTMS" in bounds.source or "TOP" in bounds.source, name


def test_a_bound_that_is_not_judgement_is_the_national_figure_plus_or_minus_three_errors():
    n = BASELINE.min_denominator
    checked = 0
    for name, bounds in BASELINE.indicators.items():
        if bounds.judgement:
            continue
        p = bounds.national
        error = 3 * (p * (1 - p) / n).sqrt()
        places = Decimal("0.0001")
        if bounds.low is not None:
            assert bounds.low == (p - error).quantize(places, ROUND_HALF_UP), name
        if bounds.high is not None:
            assert bounds.high == (p + error).quantize(places, ROUND_HALF_UP), name
        checked += 1
    assert checked == 3  # completion, drop-out and decline rates (NDTMS 2011-12)


def test_every_concern_the_rules_name_is_raised_by_some_bound():
    concerns = {c for b in BASELINE.indicators.values() for c in (b.concern_low, b.concern_high)}
    assert concerns - {None} == {"creaming", "parking", "gaming", "adverse_outcome"}


@pytest.mark.parametrize("change, key", [
    (('judgement = true\n', 'judgement = true\nsurprise = 1\n'), "indicators.band_mix.1.surprise"),
    (('source = "judgement: no national LASARS', 'sourced = "judgement: no national LASARS'),
     "indicators.band_mix.1.source"),
    (('high = "0.8000"', 'high = 0.8'), "indicators.band_mix.1.high"),
    (('concern_high = "creaming"', 'concern_high = "greed"'),
     "indicators.band_mix.1.concern_high"),
    (('min_denominator = 30', 'min_denominator = 0'), "min_denominator"),
    (('peer_min_providers = 3', 'peer_min_providers = 2'), "peer_min_providers"),
    (('[indicators."band_mix.1"]', '[indicators.starts]'), "indicators"),
])
def test_a_bad_baseline_is_refused_naming_the_key(change, key):
    old, new = change
    text = shipped_baseline_text()
    assert old in text
    with pytest.raises(RulesetError) as refused:
        parse_baseline(text.replace(old, new, 1))
    assert refused.value.key.startswith(key), refused.value


def test_a_bound_without_its_concern_or_a_low_above_its_high_is_refused():
    text = shipped_baseline_text()
    with pytest.raises(RulesetError, match="concern_high"):
        parse_baseline(text.replace('concern_high = "creaming"\n', "", 1))
    with pytest.raises(RulesetError, match="above high"):
        parse_baseline(text.replace('low = "0.1966"', 'low = "0.9000"', 1))


# Flags against the baseline -------------------------------------------------------------------


def test_a_value_beyond_a_bound_is_flagged_with_its_concern_and_one_on_the_bound_is_not():
    # Completion bounds 0.1966 to 0.7434. 59 of 300 = 0.1967: inside. 58 of 300 = 0.1933: low.
    inside = baseline_flags(_provider("P1", 59, 300), BASELINE, 91)
    assert inside == []
    low = baseline_flags(_provider("P1", 58, 300), BASELINE, 91)
    assert [(f.indicator, f.value, f.bound, f.concern, f.side, f.basis) for f in low] == [
        ("completion_rate", Decimal("0.1933"), Decimal("0.1966"), "adverse_outcome", "low",
         "baseline")]
    high = baseline_flags(_provider("P1", 24, 30), BASELINE, 91)
    assert [(f.value, f.concern) for f in high] == [(Decimal("0.8000"), "gaming")]


def test_a_rate_over_fewer_cases_than_the_minimum_denominator_is_never_flagged():
    assert baseline_flags(_provider("P1", 0, 29), BASELINE, 91) == []
    assert len(baseline_flags(_provider("P1", 0, 30), BASELINE, 91)) == 1


# Flags against the site's providers ---------------------------------------------------------


def test_a_provider_more_than_three_median_absolute_deviations_below_its_site_is_flagged():
    # 0.40, 0.45, 0.50, 0.10: median 0.425, deviations 0.025 0.025 0.075 0.325, MAD 0.05.
    # P4's sampling error sqrt(0.425 * 0.575 / 100) = 0.0494 is smaller than the MAD, so the
    # bound is 0.425 - 3 * 0.05 = 0.275. P4 (0.10) is below it; P3 (0.50) is 0.075 away: not.
    groups = [_provider("P1", 40, 100), _provider("P2", 45, 100), _provider("P3", 50, 100),
              _provider("P4", 10, 100)]
    found = peer_flags(groups, BASELINE)
    assert list(found) == [("S1", "P4")]
    flag = found[("S1", "P4")][0]
    assert (flag.indicator, flag.value, flag.bound, flag.concern, flag.basis) == (
        "completion_rate", Decimal("0.1000"), Decimal("0.2750"), "adverse_outcome",
        "site_providers")


def test_chance_alone_does_not_flag_when_three_providers_lie_close_by_luck():
    # 30, 31 and 20 of 60: median 0.5000, MAD 0.0167, so 0.3333 is 10 MADs away; but a rate
    # over 60 cases varies by sqrt(0.25 / 60) = 0.0645 by chance, and 0.1667 < 3 * 0.0645.
    groups = [_provider("P1", 30, 60), _provider("P2", 31, 60), _provider("P3", 20, 60)]
    assert peer_flags(groups, BASELINE) == {}


def test_fewer_than_three_providers_with_the_value_are_not_compared():
    groups = [_provider("P1", 50, 100), _provider("P2", 50, 100), _provider("P3", 0, 10),
              _provider("P4", 0, 100, site="S2")]
    assert peer_flags(groups, BASELINE) == {}


def test_a_deviation_on_a_side_no_concern_names_is_not_a_flag():
    # Drop-out rates 0.30, 0.31, 0.29 and 0.00: far below, but a low drop-out rate is no concern.
    groups = [Group("provider", "S1", name, Tally(discharges=100, dropped_out=out))
              for name, out in (("P1", 30), ("P2", 31), ("P3", 29), ("P4", 0))]
    assert peer_flags(groups, BASELINE) == {}


def test_a_deaths_bound_for_a_quarter_scales_with_the_period():
    # 8 per 1,000 in 91 days: 9 of 1,000 is above it in a quarter, not in a year (8 * 365 / 91
    # = 32.0879).
    group = Group("provider", "S1", "P1", Tally(deaths=9, open_in_period=1000))
    assert [f.bound for f in baseline_flags(group, BASELINE, 91)] == [Decimal("8.0000")]
    assert baseline_flags(group, BASELINE, 365) == []
    heavy = Group("provider", "S1", "P1", Tally(deaths=33, open_in_period=1000))
    assert [f.bound for f in baseline_flags(heavy, BASELINE, 365)] == [Decimal("32.0879")]


def test_site_and_overall_groups_get_baseline_flags_only():
    tally = Tally(discharges=100, completions=10)
    groups = [_provider("P1", 10, 100), Group("site", "S1", None, tally),
              Group("all", None, None, tally)]
    flags = group_flags(groups, BASELINE, 91)
    assert [[f.basis for f in group] for group in flags] == [["baseline"]] * 3


# The command line ----------------------------------------------------------------------------


def _ledger(tmp_path: Path, db: str, records: list[dict]) -> None:
    from ledger.rulesets import example_ruleset_text
    (tmp_path / "rules.toml").write_text(example_ruleset_text())
    assert pbr("rules", "publish", tmp_path / "rules.toml", "--db", db).exit_code == 0
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in complete_records(records)) + "\n")
    assert pbr("import", path, "--db", db).exit_code == 0


RECORDS = [
    {"type": "treatment_started", "client": "C1", "on": "2013-01-10", "substances": ["opiates"],
     "lasars_band": 2},
    {"type": "discharged", "client": "C1", "on": "2013-05-10", "reason": "completed_drug_free"},
    {"type": "treatment_started", "client": "C2", "on": "2013-04-10", "substances": ["crack"]},
]


def test_the_period_defaults_to_the_quarter_of_as_of_up_to_it(tmp_path):
    db = f"sqlite:///{tmp_path / 'pbr.db'}"
    _ledger(tmp_path, db, RECORDS)
    document = pbr("diagnostics", "--as-of", "2013-05-20", "--db", db, "--json").json()
    assert (document["from"], document["to"], document["known_on"]) == (
        "2013-04-01", "2013-05-20", "2013-05-20")
    assert document["baseline"] == "england-2011-12"
    overall = document["groups"][-1]
    assert overall["level"] == "all" and overall["site"] is None and overall["provider"] is None
    assert overall["indicators"]["starts"] == 1
    assert overall["indicators"]["completion_rate"] == "1.0000"
    assert [g["level"] for g in document["groups"]] == ["provider", "site", "all"]


def test_by_quarter_gives_one_set_of_groups_per_quarter_of_the_range(tmp_path):
    db = f"sqlite:///{tmp_path / 'pbr.db'}"
    _ledger(tmp_path, db, RECORDS)
    document = pbr("diagnostics", "--from", "2013-01-01", "--to", "2013-06-30", "--by-quarter",
                   "--known-on", "2013-06-30", "--db", db, "--json").json()
    assert [(q["from"], q["to"]) for q in document["quarters"]] == [
        ("2013-01-01", "2013-03-31"), ("2013-04-01", "2013-06-30")]
    starts = [q["groups"][-1]["indicators"]["starts"] for q in document["quarters"]]
    assert starts == [1, 1]


def test_the_html_page_stands_alone_with_a_chart_per_site(tmp_path):
    db = f"sqlite:///{tmp_path / 'pbr.db'}"
    _ledger(tmp_path, db, RECORDS)
    page = tmp_path / "diagnostics.html"
    result = pbr("diagnostics", "--from", "2013-01-01", "--to", "2013-06-30", "--by-quarter",
                 "--html", page, "--db", db)
    assert result.exit_code == 0, result.stderr
    html = page.read_text()
    # Site S1: its flags per quarter, and, as no provider had the baseline's 30 discharges in a
    # quarter, the note saying why its completion rates are not drawn in place of an empty chart.
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 1
    assert "Site S1: flags per quarter" in html and "Site S1: successful completions" not in html
    assert "Site S1: no provider had 30 discharges in a quarter" in html
    # Nothing is fetched: no scripts, links, images or imports; url() only names the page's
    # own clip paths (url(#...)); no src or href points off the page.
    for fetch in (r"<script", r"<link", r"<img", r"@import", r"url\((?!#)",
                  r"(src|href)\s*=\s*\"?[a-z]*:?//"):
        assert not re.search(fetch, html), fetch


@pytest.mark.parametrize("args, words", [
    (["--from", "2013-04-01", "--to", "2013-03-31"], "--from: 2013-04-01 is after --to"),
    (["--to", "2013-02-30"], "--to"),
    (["--baseline", "missing.toml"], "--baseline: cannot read"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, args, words):
    db = f"sqlite:///{tmp_path / 'pbr.db'}"
    _ledger(tmp_path, db, RECORDS)
    result = pbr("diagnostics", *args, "--db", db)
    assert result.exit_code == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_baseline_file_with_an_unknown_key_is_refused_naming_it(tmp_path):
    db = f"sqlite:///{tmp_path / 'pbr.db'}"
    _ledger(tmp_path, db, RECORDS)
    bad = tmp_path / "bad.toml"
    bad.write_text(shipped_baseline_text().replace("peer_min_providers", "peers", 1))
    result = pbr("diagnostics", "--baseline", bad, "--db", db)
    assert result.exit_code == 2 and "peers: unknown key" in result.stderr


def test_diagnostics_of_a_ledger_that_does_not_exist_is_an_error_not_a_new_ledger(tmp_path):
    result = pbr("diagnostics", "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.exit_code == 2 and not (tmp_path / "none.db").exists()


def test_the_report_section_takes_the_document_as_built_or_as_printed(tmp_path):
    from datetime import date

    from cli.diagnostics_html import diagnostics_section
    from ledger.diagnostics import diagnostics_document
    from ledger.store import Ledger
    db = f"sqlite:///{tmp_path / 'pbr.db'}"
    _ledger(tmp_path, db, RECORDS)
    ledger = Ledger(db, create=False)
    document = diagnostics_document(ledger, quarters(date(2013, 1, 1), date(2013, 6, 30)),
                                    date(2013, 6, 30), by_quarter=True)
    ledger.close()
    built = diagnostics_section(document)
    printed = pbr("diagnostics", "--from", "2013-01-01", "--to", "2013-06-30", "--by-quarter",
                  "--known-on", "2013-06-30", "--db", db, "--json").json()
    assert built == diagnostics_section(printed)
    assert built.startswith("<section>") and built.endswith("</section>")
    assert "2013 Q1" in built and "No provider was flagged in any quarter." in built
