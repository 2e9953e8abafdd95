"""The diagnostics as a self-contained HTML page, and as a section of the demo's report.

Both read the ``pbr diagnostics --json`` document (one period, or ``--by-quarter``) and draw
with :mod:`cli.charts`: one small chart per site, its providers as the series (never more than
the palette tells apart), rates in %, axes from zero. No scripts, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any

from cli.charts import bar_chart, line_chart

RATES = (("completion_rate", "completed"), ("drop_out_rate", "dropped out"),
         ("declined_rate", "declined"), ("parked_rate", "parked share"),
         ("abstinent_at_review", "abstinent"), ("pairs_near_min_gap", "pairs near gap"),
         ("representation_rate", "re-presented"))
# What the section's own markup needs, on its page or in the demo's report.
SECTION_STYLE = """td.l,th.l{text-align:left}.sites{display:flex;flex-wrap:wrap;gap:12px}
.sites figure{margin:0;border:1px solid #e4e4e4;padding:4px}
.wide{overflow-x:auto}.sites svg{display:block;max-width:100%;height:auto}
table.grid td{text-align:center;min-width:5.5em}table.grid td.l{text-align:left}"""
STYLE = """body{font-family:'DejaVu Sans',sans-serif;margin:2em;color:#222;max-width:1150px}
table{border-collapse:collapse;margin:0.8em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#eef}
""" + SECTION_STYLE


def _percent(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value) * 100


def _periods(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "quarters" in document:
        return document["quarters"]
    return [{"from": document["from"], "to": document["to"], "groups": document["groups"]}]


def _providers_by_site(groups: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    sites: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        if group["level"] == "provider":
            sites.setdefault(group["site"], []).append(group)
    return sites


CHART_LABELS = {"completion_rate": "completed", "drop_out_rate": "dropped out",
                "declined_rate": "declined", "parked_rate": "parked",
                "abstinent_at_review": "abstinent at review", "pairs_near_min_gap":
                "pairs near min gap", "representation_rate": "re-presented"}


def _period_chart(site: str, providers: list[dict[str, Any]]) -> str:
    """One period: each rate per provider side by side, and band 3's share of starts (the
    complex clients creaming turns away)."""
    series = {p["provider"]: [*(_percent(p["indicators"][key]) for key, _ in RATES),
                              _percent(p["indicators"]["band_mix"]["3"])] for p in providers}
    labels = [*(CHART_LABELS[key] for key, _ in RATES), "band 3 of starts"]
    return bar_chart(f"Site {site}: rates by provider", labels, series, y_label="share",
                     unit="%", x_label="indicator", stacked=False, width=5.2, height=3.0)


def _trend_charts(site: str, periods: list[dict[str, Any]], least: int) -> list[str]:
    """Quarter by quarter, per provider: the flags raised, and the successful completion rate
    (the evaluation's finding was a falling completion rate), drawn only where at least
    ``least`` discharges stand behind it."""
    labels = [_quarter_label(p["from"]) for p in periods]
    flags: dict[str, list[int]] = {}
    rates: dict[str, list[Decimal | None]] = {}
    for n, period in enumerate(periods):
        for group in _providers_by_site(period["groups"]).get(site, []):
            flags.setdefault(group["provider"], [0] * len(periods))[n] = len(group["flags"])
            enough = group["indicators"]["discharges"] >= least
            rates.setdefault(group["provider"], [None] * len(periods))[n] = (
                _percent(group["indicators"]["completion_rate"]) if enough else None)
    charts = [bar_chart(f"Site {site}: flags per quarter", labels, flags, y_label="flags",
                        unit="count", x_label="quarter", stacked=False, width=4.6, height=2.3)]
    if any(rate is not None for series in rates.values() for rate in series):
        charts.append(line_chart(f"Site {site}: successful completions", labels, rates,
                                 y_label="of discharges", unit="%", x_label="quarter",
                                 width=4.6, height=2.3))
    return charts  # no completion chart where none could be drawn (see _note)


def _quarter_label(day: str) -> str:
    return f"{day[:4]} Q{(int(day[5:7]) - 1) // 3 + 1}"


def _site_charts(periods: list[dict[str, Any]], least: int) -> list[list[str]]:
    sites = sorted({s for p in periods for s in _providers_by_site(p["groups"])})
    if len(periods) > 1:
        return [_trend_charts(site, periods, least) for site in sites]
    by_site = _providers_by_site(periods[0]["groups"])
    return [[_period_chart(site, by_site[site])] for site in sites]


def site_charts(document: dict[str, Any]) -> list[list[str]]:
    """Each site's charts (SVG), sites in order, from the ``pbr diagnostics --json`` document
    (as built or as printed): for one period its providers' rates side by side, for quarters
    its flags per quarter and its providers' successful completion rates. Drawn from the
    provider groups the document holds (the web view gives a provider user only its own)."""
    document = plain(document)
    return _site_charts(_periods(document), int(document.get("min_denominator", 1)))


def _note(site: str, periods: list[dict[str, Any]], least: int) -> str:
    """Under a site's quarterly charts: a note when no provider of it had ``least`` discharges
    in any quarter (its completion-rate chart is then empty)."""
    if any(group["indicators"]["discharges"] >= least for period in periods
           for group in _providers_by_site(period["groups"]).get(site, [])):
        return ""
    return (f"<p class=note>Site {escape(site)}: no provider had {least} discharges in a "
            "quarter, so no completion rate is drawn.</p>")


def _charts(periods: list[dict[str, Any]], least: int) -> str:
    sites = sorted({s for p in periods for s in _providers_by_site(p["groups"])})
    charts = ["".join(svgs) for svgs in _site_charts(periods, least)]
    if len(periods) > 1:  # a site without a completion chart says why in its place
        charts = [chart + _note(site, periods, least) for site, chart in zip(sites, charts,
                                                                             strict=True)]
    return '<div class="sites">' + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1,
           css: str = "") -> str:
    head = "".join(f'<th{" class=l" if i < left else ""}>{escape(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(
        f'<td{" class=l" if i < left else ""}>{escape("" if c is None else str(c))}</td>'
        for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<table class="{css}"><tr>{head}</tr>{body}</table>' if css else \
        f"<table><tr>{head}</tr>{body}</table>"


def _flag_rows(periods: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for period in periods:
        for group in period["groups"]:
            name = group["provider"] or group["site"] or "all"
            for flag in group["flags"]:
                rows.append([_quarter_label(period["from"]) if len(periods) > 1 else
                             f"{period['from']} to {period['to']}", name, flag["concern"],
                             flag["indicator"], flag["value"],
                             f"{'below' if flag['side'] == 'low' else 'above'} {flag['bound']}",
                             "baseline" if flag["basis"] == "baseline" else "site's providers"])
    return rows


def _flag_grid(periods: list[dict[str, Any]]) -> str:
    """Providers down, quarters across: the concerns flagged in each quarter."""
    providers = sorted({(g["site"], g["provider"]) for p in periods for g in p["groups"]
                        if g["level"] == "provider"})
    rows = []
    for site, provider in providers:
        cells = []
        for period in periods:
            concerns = sorted({f["concern"] for g in period["groups"]
                               if (g["site"], g["provider"]) == (site, provider)
                               for f in g["flags"]})
            cells.append(", ".join(concerns))
        if any(cells):
            rows.append([provider, *cells])
    if not rows:
        return "<p>No provider was flagged in any quarter.</p>"
    return _table(["provider", *(_quarter_label(p["from"]) for p in periods)], rows,
                  css="grid")


def _indicator_rows(groups: Sequence[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for group in groups:
        values = group["indicators"]
        band = values["band_mix"]
        rows.append([group["provider"] or group["site"] or "all", values["starts"],
                     "/".join(band[b] or "-" for b in "123"), values["discharges"],
                     *(values[key] for key, _ in RATES), values["parked"],
                     values["deaths_per_1000"], len(group["flags"])])
    return rows


def plain(document: Any) -> Any:
    """The document as its JSON text would read back: dates and decimals as strings."""
    if isinstance(document, dict):
        return {key: plain(value) for key, value in document.items()}
    if isinstance(document, list):
        return [plain(value) for value in document]
    if isinstance(document, date):
        return document.isoformat()
    if isinstance(document, bool | int | str) or document is None:
        return document
    return str(document)


def diagnostics_section(document: dict[str, Any]) -> str:
    """The diagnostics as an HTML fragment (``<section>``) for a report, from the ``pbr
    diagnostics --json`` document (as printed, or as :func:`ledger.diagnostics.
    diagnostics_document` returns it): a chart per site, the flags, and (for one period) the
    indicators of every group."""
    document = plain(document)
    periods = _periods(document)
    parts = [f"<section><h2>Diagnostics: perverse incentives, {escape(document['from'])} to "
             f"{escape(document['to'])}</h2>",
             f"<p>Known on {escape(document['known_on'])}; baseline "
             f"<code>{escape(document['baseline'])}</code>. Rates are shares of their own "
             "denominators (docs/rules.md §10); a flag names its concern and the bound it crossed, "
             "from the baseline or from the median of the site's providers.</p>",
             _charts(periods, int(document.get("min_denominator", 1)))]
    if len(periods) > 1:
        parts.append(f"<p>A provider's completion rate is drawn only for quarters with at least "
                     f"{escape(str(document.get('min_denominator', 1)))} discharges, the least "
                     "the baseline flags.</p>")
    flags = _flag_rows(periods)
    if len(periods) > 1:
        parts += ["<h3>Concerns flagged per provider, quarter by quarter</h3>",
                  f"<div class=\"wide\">{_flag_grid(periods)}</div>"]
    parts += [f"<h3>Flags ({len(flags)})</h3>",
              _table(["period", "group", "concern", "indicator", "value", "bound", "against"],
                     flags, left=4) if flags else "<p>No flags.</p>"]
    if len(periods) == 1:
        parts += ["<h3>Indicators</h3>", _table(
            ["group", "starts", "band mix 1/2/3", "discharges", *(label for _, label in RATES),
             "parked journeys", "deaths per 1,000", "flags"],
            _indicator_rows(periods[0]["groups"]))]
    parts.append("</section>")
    return "\n".join(parts)


def diagnostics_page(document: dict[str, Any]) -> str:
    """A whole self-contained page around :func:`diagnostics_section`."""
    title = f"pbr diagnostics {document['from']} to {document['to']}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n"
            f"<h1>{escape(title)}</h1>\n{diagnostics_section(document)}\n</body></html>\n")
