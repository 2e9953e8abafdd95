"""The demo's self-contained HTML report, drawn by :mod:`cli.charts` (inline SVG, no scripts,
no network): net payments per quarter (one small chart per site), outcome rates per site, the
draft's options side by side per client profile, each provider's forecast against what was paid,
and any further sections the demo is given (diagnostics, say)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from cli.charts import bar_chart
from cli.commissioning_html import (
    backtest_section,
    charts,
    compare_section,
    html_table,
    page,
)


def payments_by_site(runs: list[dict[str, Any]]) -> dict[str, tuple[list[str], dict]]:
    """Per site: the quarters, and each provider's net payment (payments less clawbacks) in
    each quarterly run."""
    quarters = [run["as_of"].isoformat() for run in runs]
    net: dict[tuple[str, str], dict[int, Decimal]] = defaultdict(dict)
    for index, run in enumerate(runs):
        for line in run["lines"]:
            key = (line["site"] or "-", line["provider"] or "-")
            net[key][index] = net[key].get(index, Decimal(0)) + Decimal(line["amount"])
    panels: dict[str, tuple[list[str], dict]] = {}
    for site, provider in sorted(net):
        series = panels.setdefault(site, (quarters, {}))[1]
        series[provider] = [net[(site, provider)].get(i, Decimal(0))
                            for i in range(len(runs))]
    return panels


def outcome_rates_by_site(outcomes: list[dict[str, Any]]) -> tuple[list[str],
                                                                   dict[str, list]]:
    """Per outcome and site: achieved as a % of decided (achieved + failed); none decided, no
    bar."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in outcomes:
        if row["status"] in ("achieved", "failed") and row.get("site"):
            counts[(row["site"], row["outcome"])][row["status"] == "failed"] += 1
    sites = sorted({site for site, _ in counts})
    names = [name for name in dict.fromkeys(row["outcome"] for row in outcomes)
             if any((site, name) in counts for site in sites)]
    series = {}
    for site in sites:
        rates = []
        for name in names:
            achieved, failed = counts.get((site, name), [0, 0])
            rates.append(Decimal(100 * achieved) / (achieved + failed) if achieved + failed
                         else None)
        series[site] = rates
    return names, series


def html_report(runs: list[dict[str, Any]], outcomes: list[dict[str, Any]],
                summary_rows: list[list[str]], outcome_rows: list[list[str]],
                comparison: dict | None = None, backtest: dict | None = None,
                sections: Sequence[str] = (), style: str = "") -> str:
    """The report. ``comparison`` is a ``pbr compare`` document, ``backtest`` a ``pbr forecast
    --backtest`` one; ``sections`` are further HTML sections, placed after them, and ``style``
    the further CSS rules they need."""
    panels = payments_by_site(runs)
    payment_charts = [bar_chart(f"Site {site}: net payment per quarterly run", quarters,
                                series, y_label="net paid", unit="£",
                                x_label="run as of", width=5.0, height=3.0)
                      for site, (quarters, series) in panels.items()]
    names, rates = outcome_rates_by_site(outcomes)
    rate_chart = bar_chart("Outcomes achieved, % of those decided (achieved or failed), by "
                           "site", names, rates, y_label="achieved", unit="%",
                           x_label="outcome", stacked=False, width=11.0, height=3.6)
    body = (
        "<p class=note>Every run below was replayed from its recorded inputs and gave "
        "identical lines.</p>"
        "<h2>Net payments per quarter, by provider (one chart per site)</h2>"
        + charts(*payment_charts)
        + html_table(["quarter", "payments", "clawbacks", "net", "lines", "replay"],
                     summary_rows)
        + "<h2>Outcome rates per site</h2>" + charts(rate_chart)
        + html_table(["outcome", "option", "achieved", "failed", "pending", "ineligible"],
                     outcome_rows)
        + (compare_section(comparison) if comparison is not None else "")
        + (backtest_section(backtest) if backtest is not None else "")
        + "".join(sections))
    return page("Simulated pilot: payment runs, April 2012 to March 2015", body, style)
