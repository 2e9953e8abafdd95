"""The ledger check, compare and forecast pages show what ``pbr verify``, ``pbr compare`` and
``pbr forecast`` print with ``--json`` (the same services), a provider only its own rows, and the
check afresh on every visit."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import create_engine

from ledger.access import read_access_log
from tests.cli_runner import pbr
from tests.reliability.tamper import _flip_byte
from tests.web_support import Served, build_served, signed_in
from web.words import money

COMPARE = "/compare?base=example-2012&with=option-final-window-6m&as_of=2013-06-30"


@pytest.fixture
def served(db_url, tmp_path) -> Served:
    built = build_served(db_url, tmp_path)
    yield built
    built.ledger.close()


def _facts(page: str) -> dict[str, str]:
    return {dt: re.sub(r"<[^>]+>", "", dd).strip() for dt, dd in
            re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", page, re.S)}


def _tamper(url: str, position: int) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        _flip_byte(connection, position)
    engine.dispose()


def test_the_ledger_check_shows_the_head_pbr_verify_prints(served):
    printed = pbr("verify", "--db", served.url, "--json").json()
    page = signed_in(served.app(), "audrey").get("/verify").text
    facts = _facts(page)
    assert "The ledger holds what it held" in page
    assert facts["Head position"] == str(printed["head"]["position"])
    assert facts["Head hash"] == printed["head"]["hash"]
    assert facts["Records checked"] == f"{printed['events']:,}"
    assert "full scan" in page


def test_a_head_printed_earlier_is_checked_and_a_wrong_one_named_in_words(served):
    printed = pbr("verify", "--db", served.url, "--json").json()["head"]
    auditor = signed_in(served.app(), "audrey")
    same = auditor.get(f"/verify?at={printed['position']}&head={printed['hash']}").text
    assert "matches the head you gave" in same
    wrong = auditor.get(f"/verify?at={printed['position']}&head={'0' * 64}").text
    assert "does NOT hold what it held" in wrong
    assert "is not what it was when that head was printed" in wrong  # words, not the code
    assert _facts(wrong)["First bad position"] == str(printed["position"])


def test_the_check_is_made_afresh_so_a_change_after_a_visit_is_shown_at_the_next(served):
    auditor = signed_in(served.app(), "audrey")
    assert "holds what it held" in auditor.get("/verify").text
    _tamper(served.url, 5)
    printed = pbr("verify", "--db", served.url, "--json").json()
    page = auditor.get("/verify").text
    assert "does NOT hold what it held" in page
    assert printed["problem"]["reason"] == "event_changed"
    assert _facts(page)["First bad position"] == "5" == str(printed["problem"]["position"])
    assert "A record was altered after the ledger wrote it." in page
    assert printed["head"]["hash"] in page  # the last good head


def test_the_compare_page_shows_the_totals_pbr_compare_prints(served):
    printed = pbr("compare", "example-2012", "ledger/data/options/option-final-window-6m.toml",
                  "--as-of", "2013-06-30", "--db", served.url, "--json").json()
    page = signed_in(served.app(), "cara").get(COMPARE).text
    total_row = re.search(r'<tr class="sum"><td>Total</td>(.*?)</tr>', page, re.S).group(1)
    for ruleset in printed["rulesets"]:
        assert money(ruleset["total"]) in total_row
        for provider, amount in ruleset["by_provider"].items():
            assert re.search(rf"<td>{provider}</td>.*?{re.escape(money(amount))}", page, re.S)
    assert page.count('<img src="data:image/svg+xml;base64,') >= 6  # totals and profiles


def test_a_provider_sees_only_its_own_total_of_a_comparison(served):
    printed = pbr("compare", "example-2012", "ledger/data/options/option-final-window-6m.toml",
                  "--as-of", "2013-06-30", "--db", served.url, "--json").json()
    page = signed_in(served.app(), "pia").get(COMPARE).text
    for ruleset in printed["rulesets"]:
        assert money(ruleset["by_provider"]["P1"]) in page
        assert money(ruleset["total"]) not in page
    assert "P2" not in page and "Total" not in page and "<img" not in page


def test_the_compare_page_never_opens_a_file_named_in_its_form(served, tmp_path):
    page = signed_in(served.app(), "cara").get(
        "/compare?base=example-2012&with=ledger/data/options/option-final-window-6m.toml")
    assert page.status_code == 400
    assert "neither a published ruleset nor a shipped option" in page.text
    assert "unknown_ruleset" in page.text


def test_the_forecast_page_shows_each_providers_figures_pbr_forecast_prints(served):
    printed = pbr("forecast", "--as-of", "2013-06-30", "--db", served.url, "--json").json()
    page = signed_in(served.app(), "fin").get("/forecast?as_of=2013-06-30").text
    rows = re.findall(r"<tr><td>(P\d)</td><td>([\d-]+)</td><td class=\"num\">(.*?)</td>"
                      r"<td class=\"num\">(.*?)</td><td class=\"num\">(.*?)</td></tr>", page)
    expected = [(p, period["period_end"], money(v["due"]), money(v["at_stake"]),
                 money(v["expected"])) for period in printed["periods"]
                for p, v in period["providers"].items()]
    assert rows == expected and {r[0] for r in rows} == {"P1", "P2"}


def test_a_provider_sees_only_its_own_rows_of_a_forecast_and_of_its_back_test(served):
    printed = pbr("forecast", "--as-of", "2013-06-30", "--db", served.url, "--json").json()
    provider = signed_in(served.app(), "pia")
    page = provider.get("/forecast?as_of=2013-06-30").text
    mine = [(period["period_end"], money(v["expected"])) for period in printed["periods"]
            for p, v in period["providers"].items() if p == "P1"]
    assert mine and all(end in page and amount in page for end, amount in mine)
    assert "P2" not in page
    backtest = provider.get("/forecast?backtest=1").text
    assert "P1" in backtest and "P2" not in backtest
    assert provider.get("/forecast?provider=P2").status_code == 404


def test_the_back_test_page_shows_the_errors_pbr_forecast_backtest_prints(served):
    printed = pbr("forecast", "--backtest", "--db", served.url, "--json").json()
    page = signed_in(served.app(), "cara").get("/forecast?backtest=1").text
    for row in printed["rows"]:
        if row["share_of_paid"] is not None:
            share = f"{Decimal(str(row['share_of_paid'])) * 100:.1f}%"
            assert re.search(rf"<td>{row['provider']}</td>.*?{re.escape(share)}", page, re.S)


def test_the_new_pages_name_no_client_and_log_none(served):
    cara = signed_in(served.app(), "cara")
    for path in ("/verify", COMPARE, "/forecast?as_of=2013-06-30", "/forecast?backtest=1"):
        page = cara.get(path).text
        assert not re.search(r"\bC\d\b", re.sub(r'src="data:[^"]*"', "", page))
    assert read_access_log(served.ledger) == []
