"""The diagnostics page shows what ``pbr diagnostics --json`` prints (the same service): every
indicator per provider, per site and overall, the flags in words, the charts; its form's period,
known-on date and quarter-by-quarter are honoured, bad input is answered with words (400); a
provider sees only its own groups, and of a flag against its site's providers not the bound the
other providers' figures make (docs/web.md decision 19)."""

from __future__ import annotations

import base64
import html
import re

import pytest

from ledger.access import read_access_log
from tests.cli_runner import pbr
from tests.web_support import DIAGNOSED_RECORDS, Served, build_served, signed_in
from web.words import CONCERNS, figure

QUARTER = "/diagnostics?from=2013-01-01&to=2013-03-31&known_on=2013-03-31"
@pytest.fixture
def served(db_url, tmp_path) -> Served:
    built = build_served(db_url, tmp_path, DIAGNOSED_RECORDS)
    yield built
    built.ledger.close()


def _rows(page: str) -> dict[str, list[str]]:
    """The indicators table: each group's name and its cells, as shown."""
    rows = {}
    for row in re.findall(r'<tr class="level-\w+">(.*?)</tr>', page, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                        row, re.S)]
        rows[cells[0]] = cells[1:]
    return rows


def _page(client, path: str) -> str:
    """The page's text, its entities read (``&#39;`` as ``'``)."""
    return html.unescape(client.get(path).text)


def _charts(page: str) -> list[str]:
    return [base64.b64decode(src).decode() for src in
            re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]


def test_the_page_shows_every_indicator_pbr_diagnostics_prints_per_provider_site_and_overall(
        served):
    printed = pbr("diagnostics", "--from", "2013-01-01", "--to", "2013-03-31", "--known-on",
                  "2013-03-31", "--db", served.url, "--json").json()
    page = _page(signed_in(served.app(), "cara"), QUARTER)
    rows = _rows(page)
    names = {"provider": "{provider} at site {site}", "site": "Site {site}, all its providers",
             "all": "All sites"}
    # P1 at S1 and S3, P2 at S2 and S3, P3 at S3; the sites S1, S2 and S3; all sites.
    assert len(rows) == len(printed["groups"]) == 9
    for group in printed["groups"]:
        cells = rows[names[group["level"]].format(**group)]
        values = group["indicators"]
        assert cells[0] == figure("starts", values["starts"])
        assert cells[1] == " / ".join(figure("band_mix.1", values["band_mix"][b])
                                      for b in "123")
        for cell, key in zip(cells[2:-1], (
                "discharges", "completion_rate", "drop_out_rate", "declined_rate", "parked",
                "parked_rate", "deaths_per_1000", "abstinent_at_review", "pairs_near_min_gap",
                "representation_rate"), strict=True):
            assert cell == figure(key, values[key], in_column=True), key
        assert cells[-1] == str(len(group["flags"]))
    assert rows["P1 at site S3"][4] == "100.00%"  # its drop-out rate


def test_each_flag_names_its_concern_in_words_with_the_bound_it_crossed(served):
    printed = pbr("diagnostics", "--from", "2013-01-01", "--to", "2013-03-31", "--known-on",
                  "2013-03-31", "--db", served.url, "--json").json()
    page = _page(signed_in(served.app(), "pat"), QUARTER)
    flags = [f for g in printed["groups"] for f in g["flags"]]
    assert {f["basis"] for f in flags} == {"baseline", "site_providers"}
    assert f"<h3>Flags ({len(flags)})</h3>" in page
    title, meaning = CONCERNS["adverse_outcome"].split(": ")
    assert f'<strong>{title}</strong><br><span class="hint">{meaning}</span>' in page
    assert ("clients who dropped out, as a share of discharges: 100.00%, above the baseline's "
            "highest 51.32%") in page
    peer = next(f for g in printed["groups"] for f in g["flags"]
                if f["basis"] == "site_providers" and f["indicator"] == "completion_rate")
    assert (f"successful completions, as a share of discharges: 0.00%, below "
            f"{figure('completion_rate', peer['bound'])}: more than 3 spreads from the median "
            "of the site's providers") in page
    assert peer["source"] in page  # the median of the site's providers, for whoever checks
    assert len(_charts(page)) == 3  # a chart per site
    assert "Site S3: rates by provider" in page


def test_a_provider_sees_only_its_own_groups_and_not_the_figures_of_its_sites_others(served):
    page = _page(signed_in(served.app(), "pia"), QUARTER)
    assert set(_rows(page)) == {"P1 at site S1", "P1 at site S3"}
    assert "P2" not in page and "P3" not in page and "All sites" not in page
    assert "Site S3, all its providers" not in page
    assert "far below the other providers of its site" in page  # its own flag, in words
    assert "median" not in page  # the site's providers' median, which their figures make
    assert "more than 3 spreads" not in page  # the bound the others' figures make
    assert "above the baseline's highest 51.32%" in page  # the baseline is no one's figures
    charts = _charts(page)
    assert len(charts) == 2 and all("P2" not in svg and "P3" not in svg
                          for svg in charts)


def test_a_provider_asking_for_another_providers_diagnostics_gets_404(served):
    provider = signed_in(served.app(), "pia")
    assert provider.get(QUARTER + "&provider=P2").status_code == 404
    assert provider.get(QUARTER + "&provider=P1").status_code == 200
    commissioner = signed_in(served.app(), "cara")
    one = commissioner.get(QUARTER + "&provider=P2").text
    assert set(_rows(one)) == {"P2 at site S2", "P2 at site S3"}
    assert commissioner.get(QUARTER + "&provider=P9").status_code == 404


def test_the_forms_period_known_on_date_and_quarters_are_honoured(served):
    cara = signed_in(served.app(), "cara")
    form = cara.get("/diagnostics").text  # the form alone, with the defaults: nothing worked out
    assert 'name="from" value="2014-01-01"' in form and 'name="to" value="2014-01-15"' in form
    assert 'name="known_on" value="2014-01-15"' in form and "<h3>Flags" not in form
    before = _rows(cara.get("/diagnostics?from=2013-01-01&to=2013-03-31"
                            "&known_on=2013-02-01").text)
    assert before["P1 at site S3"][:3] == ["40", "– / – / –", "0"]  # discharges not yet known
    by_as_of = cara.get("/diagnostics?as_of=2013-03-31").text
    assert "<h2>2013-01-01 to 2013-03-31, known on 2013-03-31</h2>" in by_as_of
    quarters = cara.get("/diagnostics?from=2013-01-01&to=2013-06-30&known_on=2013-06-30"
                        "&by_quarter=1").text
    assert "<summary>2013 Q1 (2013-01-01 to 2013-03-31)</summary>" in quarters
    assert "<summary>2013 Q2 (2013-04-01 to 2013-06-30)</summary>" in quarters
    assert "Concerns per provider, quarter by quarter" in quarters
    assert re.search(r"<td>P1 at site S3</td><td>Adverse outcome</td><td></td>", quarters)
    # Per site its flags by quarter, and its completions by quarter only where a provider of it
    # had 30 discharges in a quarter (S3's three providers, 40 each): S1 and S2 have none drawn.
    assert len(_charts(quarters)) == 4
    assert "drawn only for the quarters in which it had at least 30 discharges" in quarters


@pytest.mark.parametrize("query, words", [
    ("from=2013-13-01", "from: "),
    ("to=2013-02-30", "to: "),
    ("known_on=soon", "known on: "),
    ("from=2013-04-01&to=2013-03-31", "from: 2013-04-01 is after to 2013-03-31"),
    ("from=2000-01-01&to=2013-03-31&by_quarter=1", "more than 40 quarters"),
])
def test_bad_form_input_is_answered_with_words_not_a_traceback(served, query, words):
    response = signed_in(served.app(), "cara").get(f"/diagnostics?{query}")
    assert response.status_code == 400
    assert "Cannot read the form" in response.text and words in response.text


def test_the_diagnostics_page_names_no_client_and_logs_none(served):
    page = _page(signed_in(served.app(), "cara"), QUARTER)
    assert not re.search(r"\b[CD]P?\d", re.sub(r'src="data:[^"]*"', "", page))
    assert read_access_log(served.ledger) == []
