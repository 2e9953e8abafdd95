"""Self-contained pages for ``pbr compare --html`` and ``pbr forecast --html``, and the same
sections for the demo's report: tables and inline SVG charts (:mod:`cli.charts`), no scripts,
no network."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from cli.charts import bar_chart, line_chart, paired_colours
from ledger.rulesets import OPTIONS

STYLE = """body{font-family:'DejaVu Sans',sans-serif;margin:2em;color:#222;max-width:1250px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
td{white-space:nowrap}th{background:#eef}
td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{max-width:100%;height:auto}
p.note{color:#555;font-size:13px;max-width:60em}"""

DIMENSIONS = (("substance_group", "substance group"), ("offended_before", "offended before"),
              ("injecting", "injecting at start"), ("housing_problem", "housing problem"),
              ("lasars_band", "LASARS band"))


def page(title: str, body: str, style: str = "") -> str:
    """A self-contained page; ``style``: further rules its sections need."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{STYLE}{style}</style></head><body>"
            f"<h1>{escape(title)}</h1>{body}</body></html>\n")


def html_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def charts(*svgs: str) -> str:
    return f'<div class="charts">{"".join(svgs)}</div>'


def _flag(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# Compare -------------------------------------------------------------------------------------


def _weighted(rulesets: list[dict], dimension: str) -> tuple[list[str], dict[str, list]]:
    """``max_earnable`` per journey for each value of one profile dimension, weighted by the
    profiles' journeys, per ruleset."""
    values = sorted({_flag(p[dimension]) for r in rulesets for p in r["profiles"]})
    series = {}
    for ruleset in rulesets:
        sums = {value: [Decimal(0), 0] for value in values}
        for profile in ruleset["profiles"]:
            part = sums[_flag(profile[dimension])]
            part[0] += Decimal(profile["max_earnable"] or 0) * profile["journeys"]
            part[1] += profile["journeys"]
        series[ruleset["ruleset"]] = [s / n if n else None for s, n in sums.values()]
    return values, series


def compare_charts(document: dict) -> tuple[list[str], list[str]]:
    """The comparison's charts as SVG: the totals and each ruleset's differences by outcome;
    and per profile dimension what each ruleset offers a journey in full."""
    rulesets = document["rulesets"]
    names = [r["ruleset"] for r in rulesets]
    first = names[0]
    totals = bar_chart(f"Total payable as of {document['as_of']}, by ruleset", names,
                       {"total payable": [Decimal(r["total"]) for r in rulesets]},
                       y_label="payable", unit="£", x_label="ruleset", width=9.5)
    differences = []
    for ruleset in rulesets[1:]:
        changed = {o: d for o, d in ruleset["difference"]["by_outcome"].items() if d}
        if changed:
            differences.append(bar_chart(
                f"{ruleset['ruleset']} less {first}, by outcome", list(changed),
                {"difference": list(changed.values())}, y_label="difference", unit="£",
                x_label="outcome", width=5.0, height=2.8))
    profile_charts = []
    for dimension, label in DIMENSIONS:
        values, series = _weighted(rulesets, dimension)
        profile_charts.append(bar_chart(
            f"max_earnable per journey by {label}", values, series, y_label="per journey",
            unit="£", x_label=label, stacked=False, width=6.2, height=3.0))
    return [totals, *differences], profile_charts


def compare_section(document: dict) -> str:
    """The rulesets side by side: totals, differences by outcome, and per profile what each
    offers a journey in full (``max_earnable``) beside what it paid."""
    rulesets = document["rulesets"]
    names = [r["ruleset"] for r in rulesets]
    first = names[0]
    totals_charts, profile_charts = compare_charts(document)
    outcome_rows = [[f"{o} ({OPTIONS.get(o, '')})", *(r["by_outcome"].get(o, "-")
                                                       for r in rulesets)]
                    for o in sorted({o for r in rulesets for o in r["by_outcome"]},
                                    key=lambda o: list(OPTIONS).index(o))]
    rows_of_profiles = profile_rows(rulesets)
    return (f"<h2>The rulesets side by side</h2><p class=note>One history as of "
            f"{document['as_of']}, known on {document['known_on']}, worked out under each "
            "ruleset as if it governed every journey; nothing is recorded.</p>"
            + charts(*totals_charts)
            + html_table(["outcome", *names], outcome_rows)
            + "<h3>Per client profile: what a journey can earn in full</h3>"
            "<p class=note>max_earnable: the mean, over the profile's journeys, of every "
            "individual outcome the journey is eligible for paid in full (cohort outcomes left "
            "out). A profile offered little is one providers have little reason to engage."
            "</p>" + charts(*profile_charts)
            + "<p class=note>Per profile: the journeys, the mean paid per journey under "
            f"{escape(first)}, and each ruleset's max_earnable.</p>"
            + html_table(["substances", "offended before", "injecting", "housing problem",
                          "band", "journeys", f"mean paid ({first})",
                          *(n.removeprefix("option-") for n in names)], rows_of_profiles))


def profile_rows(rulesets: list[dict]) -> list[list[str]]:
    """Per profile: its journeys, what the first ruleset paid per journey, and each ruleset's
    ``max_earnable``."""
    rows: dict[tuple, list[str]] = {}
    for index, ruleset in enumerate(rulesets):
        for profile in ruleset["profiles"]:
            key = tuple(_flag(profile[d]) for d, _ in DIMENSIONS)
            row = rows.setdefault(key, [str(profile["journeys"]), "-", *["-"] * len(rulesets)])
            if index == 0:
                row[1] = str(profile["mean"])
            row[2 + index] = str(profile["max_earnable"])
    return [[*key, *row] for key, row in sorted(rows.items())]


def compare_page(document: dict) -> str:
    return page(f"pbr compare: {', '.join(r['ruleset'] for r in document['rulesets'])}",
                compare_section(document))


# Forecast ------------------------------------------------------------------------------------


def _by_site(providers: Sequence[str], sites: dict[str, list[str]]) -> dict[str, list[str]]:
    panels: dict[str, list[str]] = {}
    for provider in providers:
        panels.setdefault((sites.get(provider) or ["-"])[0], []).append(provider)
    return dict(sorted(panels.items()))


def forecast_charts(document: dict) -> list[str]:
    """Per site, one small chart (SVG) of each provider's expected cash per period."""
    periods = document["periods"]
    ends = [p["period_end"].isoformat() for p in periods]
    providers = sorted({p for period in periods for p in period["providers"]})
    panels = []
    for site, members in _by_site(providers, document.get("provider_sites", {})).items():
        series = {p: [period["providers"].get(p, {}).get("expected", Decimal(0))
                      for period in periods] for p in members}
        panels.append(bar_chart(f"Site {site}: expected per period", ends, series,
                                y_label="expected", unit="£", x_label="payment period ending",
                                stacked=False, width=5.0, height=2.8))
    return panels


def forecast_section(document: dict) -> str:
    """Per site, one small chart of each provider's expected cash per period; then the figures."""
    periods = document["periods"]
    panels = forecast_charts(document)
    rows = [[p, period["period_end"], v["due"], v["at_stake"], v["expected"]]
            for period in periods for p, v in period["providers"].items()]
    rates = [[r["ruleset"], r["outcome"], r["instalment"] or "", r["decided"], r["achieved"],
              r["rate"] or "null", _flag(r["pooled"])] for r in document["rates"]]
    unscheduled: dict[str, list] = {}
    for item in document["unscheduled"]:
        entry = unscheduled.setdefault(item["provider"], [0, Decimal(0)])
        entry[0] += 1
        entry[1] += item["amount"]
    return (f"<h2>Cash-flow forecast as of {document['as_of']}</h2><p class=note>due: "
            "achieved, payable in the period; at stake: pending with its date fixed, at full "
            "amount; expected: due plus each amount at stake times its outcome's achievement "
            "rate.</p>" + charts(*panels)
            + html_table(["provider", "period end", "due", "at stake", "expected"], rows)
            + "<h3>Unscheduled (pending, no date fixed yet)</h3>"
            + html_table(["provider", "entitlements", "amount"],
                         [[p, n, a] for p, (n, a) in sorted(unscheduled.items())])
            + "<h3>Rates used</h3>"
            + html_table(["ruleset", "outcome", "instalment", "decided", "achieved", "rate",
                          "pooled"], rates))


def backtest_charts(document: dict) -> list[str]:
    """Per site, one small chart (SVG) of each provider's forecast taken one period ahead
    against what the runs paid."""
    ahead = {}
    for forecast in document["forecasts"]:
        first = forecast["periods"][0]
        for provider, values in first["providers"].items():
            ahead[(first["period_end"], provider)] = values["expected"]
    paid = {(row["period_end"], row["provider"]): row["paid"] for row in document["paid"]}
    ends = sorted({end for end, _ in paid} | {end for end, _ in ahead})
    providers = sorted({p for _, p in paid} | {p for _, p in ahead})
    panels = []
    for site, members in _by_site(providers, document.get("provider_sites", {})).items():
        series: dict[str, list] = {}
        for provider in members:
            series[f"{provider} paid"] = [paid.get((e, provider)) for e in ends]
            series[f"{provider} forecast"] = [ahead.get((e, provider)) for e in ends]
        panels.append(line_chart(f"Site {site}: paid vs forecast one period ahead",
                                 [e.isoformat() for e in ends], series, y_label="net paid",
                                 unit="£", x_label="payment period ending", width=4.6,
                                 height=3.0, colours=paired_colours(list(series)),
                                 dashed=[name for name in series if name.endswith("forecast")]))
    return panels


def backtest_section(document: dict) -> str:
    """Each provider's forecast (taken one period ahead) against what the runs paid, one small
    chart per site; and the mean absolute error per provider and horizon."""
    panels = backtest_charts(document)
    providers = sorted({row["provider"] for row in document["paid"]}
                       | {p for f in document["forecasts"] for p in f["periods"][0]["providers"]})
    horizons = sorted({row["horizon"] for row in document["rows"]})
    found = {(row["provider"], row["horizon"]): row for row in document["rows"]}
    rows = [[p, *(_percent(found.get((p, h))) for h in horizons)] for p in providers]
    return ("<h2>Each provider's forecast against what was paid</h2><p class=note>The "
            "forecast taken as of each run's date, known then, beside what the runs as of "
            "the following period ends paid (net). The table gives the mean absolute error of "
            "expected as a share of the mean paid, by periods ahead.</p>" + charts(*panels)
            + html_table(["provider", *(f"{h} ahead" for h in horizons)], rows))


def _percent(row: dict | None) -> str:
    if row is None or row["share_of_paid"] is None:
        return "-"
    return f"{row['share_of_paid'] * 100:.1f}%"


def forecast_page(document: dict, backtest: bool) -> str:
    if backtest:
        return page("pbr forecast --backtest", backtest_section(document))
    return page(f"pbr forecast as of {document['as_of']}", forecast_section(document))
