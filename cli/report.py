"""The demo's self-contained HTML report: payments per quarter per provider, outcome rates per
site, as inline SVG charts (no scripts, no external files)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from html import escape
from typing import Any

PALETTE = ["#1b6ca8", "#e07a1f", "#3a9d5d", "#c23b3b", "#7d5ba6", "#8c6d31", "#d16ba5",
           "#5f6b73", "#17becf", "#bcbd22"]


def _bar_chart(title: str, categories: list[str], series: dict[str, list[float]],
               unit: str) -> str:
    """Grouped-stacked bars: one bar per category, stacked by series (values may be negative)."""
    width, height, left, bottom, top = 900, 340, 70, 60, 30
    plot_w, plot_h = width - left - 20, height - top - bottom
    positives = [sum(max(v[i], 0) for v in series.values()) for i in range(len(categories))]
    negatives = [sum(min(v[i], 0) for v in series.values()) for i in range(len(categories))]
    high, low = max(positives + [1.0]), min(negatives + [0.0])
    scale = plot_h / (high - low)
    zero_y = top + high * scale
    step = plot_w / max(len(categories), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{left}" y1="{zero_y:.1f}" x2="{width - 20}" y2="{zero_y:.1f}" '
             'stroke="#333"/>']
    for fraction in (0.25, 0.5, 0.75, 1.0):
        y = zero_y - high * fraction * scale
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
                     f'{unit}{high * fraction:,.0f}</text>')
    for i, category in enumerate(categories):
        up, down = zero_y, zero_y
        for n, (name, values) in enumerate(series.items()):
            value = values[i]
            bar = abs(value) * scale
            colour = PALETTE[n % len(PALETTE)]
            if value >= 0:
                up -= bar
                y = up
            else:
                y = down
                down += bar
            parts.append(f'<rect x="{left + i * step + 4:.1f}" y="{y:.1f}" '
                         f'width="{step - 8:.1f}" height="{bar:.1f}" fill="{colour}">'
                         f'<title>{escape(name)} {escape(category)}: {unit}{value:,.2f}'
                         '</title></rect>')
        parts.append(f'<text x="{left + i * step + step / 2:.1f}" y="{height - bottom + 16}" '
                     f'font-size="10" text-anchor="middle">{escape(category)}</text>')
    for n, name in enumerate(series):
        x = left + (n % 6) * 140
        y = height - 22 + (n // 6) * 14
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" '
                     f'fill="{PALETTE[n % len(PALETTE)]}"/><text x="{x + 14}" y="{y}" '
                     f'font-size="10">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def payments_by_quarter(runs: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[float]]]:
    quarters = [run["as_of"].isoformat() for run in runs]
    providers = sorted({p for run in runs for p in run["totals"]})
    series = {p: [float(Decimal(run["totals"].get(p, "0"))) for run in runs] for p in providers}
    return quarters, series


def outcome_rates_by_site(outcomes: list[dict[str, Any]]) -> tuple[list[str],
                                                                   dict[str, list[float]]]:
    """Per site and outcome: achieved as a share of achieved + failed (decided outcomes)."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in outcomes:
        if row["status"] in ("achieved", "failed") and row.get("site"):
            counts[(row["site"], row["outcome"])][row["status"] == "failed"] += 1
    sites = sorted({site for site, _ in counts})
    names = sorted({name for _, name in counts})
    series = {}
    for name in names:
        rates = []
        for site in sites:
            achieved, failed = counts.get((site, name), [0, 0])
            rates.append(100.0 * achieved / (achieved + failed) if achieved + failed else 0.0)
        series[name] = rates
    return sites, series


def _rates_chart(sites: list[str], series: dict[str, list[float]]) -> str:
    """One small bar chart per outcome (rates are not additive, so not stacked)."""
    return "".join(_bar_chart(f"{name}: achieved, % of decided outcomes, by site", sites,
                              {name: values}, "") for name, values in series.items())


def html_report(runs: list[dict[str, Any]], outcomes: list[dict[str, Any]],
                summary_rows: list[list[str]], outcome_rows: list[list[str]]) -> str:
    quarters, series = payments_by_quarter(runs)
    sites, rates = outcome_rates_by_site(outcomes)

    def html_table(headers: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
                       for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pbr demo: payment runs 2012-2015</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;
margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
th{{background:#eef}}</style></head><body>
<h1>Simulated pilot: payment runs, April 2012 to March 2015</h1>
<p>Every run below was replayed from its recorded inputs and gave identical lines.</p>
<h2>Net payments per quarter, by provider</h2>
{_bar_chart("Net payments per quarterly run (payments less clawbacks), by provider", quarters,
            series, "£")}
{html_table(["quarter", "payments", "clawbacks", "net", "lines", "replay"], summary_rows)}
<h2>Outcome rates per site</h2>
{_rates_chart(sites, rates)}
{html_table(["outcome", "option", "achieved", "failed", "pending", "ineligible"], outcome_rows)}
</body></html>
"""
