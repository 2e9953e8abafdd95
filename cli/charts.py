"""Charts for the ledger's pages and reports, drawn by matplotlib as inline SVG.

Every chart is one self-contained ``<svg>`` element (no scripts, no network, text kept as text),
so a report or a page can embed it as it is. The rules for a readable chart live here once:
axes with titles and units, round ticks that start from zero, a legend that fits beside the plot,
and never two series in one colour — a caller with more series than colours gets an error and
must draw one small chart per group instead (:func:`small_multiples`).

Values arrive as ``Decimal`` or ``int`` (money and counts stay exact in the ledger); they become
floats only here, for drawing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates  # noqa: E402
from matplotlib import rcParams  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

rcParams["svg.fonttype"] = "none"  # text stays text: searchable, and small
rcParams["svg.hashsalt"] = "pbr"  # the same chart gives the same bytes, run after run
rcParams["font.family"] = "DejaVu Sans"
rcParams["font.size"] = 9

# Twenty colours that stay apart from each other (matplotlib's tab20, strong shades first).
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
           "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]

Number = Decimal | int | float
Series = Mapping[str, Sequence[Number | None]]


class TooManySeries(ValueError):
    """More series than distinct colours: draw one small chart per group instead."""


def _colours(names: Sequence[str]) -> dict[str, str]:
    if len(names) > len(PALETTE):
        raise TooManySeries(f"{len(names)} series but {len(PALETTE)} distinct colours; "
                            "draw one small chart per group")
    return {name: PALETTE[i] for i, name in enumerate(names)}


def _formatter(unit: str) -> FuncFormatter:
    """Tick labels with their unit: ``£1,500``, ``25%``, or a plain count."""
    def label(value: float, _: int) -> str:
        if unit == "£":
            return f"-£{-value:,.0f}" if value < 0 else f"£{value:,.0f}"
        if unit == "%":  # a small range ticks at fractions of a point: 0.5%, not "0%" or "1%"
            return f"{value:,.0f}%" if float(value).is_integer() else f"{value:,.1f}%"
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return FuncFormatter(label)


def _svg(figure: Figure, title: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    start = text.index("<svg")
    svg = text[start:]
    # An accessible name for screen readers; the figure's own title is drawn inside it.
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_attribute(title)}" ', 1)
    # No comments, and no RDF metadata block (its namespace addresses only look like links).
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    return re.sub(r"<!--.*?-->", "", svg, flags=re.S)


def _attribute(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _floats(values: Sequence[Number | None]) -> list[float]:
    return [float(v) if v is not None else float("nan") for v in values]


def _axes(figure: Figure, title: str, x_label: str, y_label: str, unit: str):  # noqa: ANN202
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=10, fontweight="bold")
    axes.set_xlabel(x_label)
    axes.set_ylabel(f"{y_label} ({unit})" if unit else y_label)
    # Counts tick at whole numbers only (a chart of 0-3 flags has no half a flag).
    axes.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10],
                                             integer=unit == "count"))
    axes.yaxis.set_major_formatter(_formatter(unit))
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return axes


def _legend(axes, count: int) -> None:  # noqa: ANN001
    if count > 1:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                    ncols=1 if count <= 12 else 2, fontsize=8)


def _x_ticks(axes, positions: Sequence[int], labels: Sequence[str],  # noqa: ANN001
             width: float) -> None:
    """Category labels level while they fit side by side (about 0.075 in a character at this
    size, in the plot's width); slanted otherwise, so no two overlap."""
    crowded = len(labels) > 8 or sum(len(label) + 2 for label in labels) * 0.075 > width * 0.7
    axes.set_xticks(positions, list(labels), rotation=35 if crowded else 0,
                    ha="right" if crowded else "center",
                    rotation_mode="anchor" if crowded else "default")


def _from_zero(axes, lows: Sequence[float], highs: Sequence[float],  # noqa: ANN001
               unit: str = "") -> None:
    """The value axis from zero to a little past the data; with nothing to draw, 0 to 100% for
    a share (whole-percent ticks) or 0 to 1 otherwise."""
    low = min([0.0, *[v for v in lows if v == v]])
    high = max([0.0, *[v for v in highs if v == v]])
    if low == high:
        high = 100.0 if unit == "%" else 1.0
    axes.set_ylim(low * 1.05, high * 1.05)


def bar_chart(title: str, categories: Sequence[str], series: Series, *, y_label: str,
              unit: str = "", x_label: str = "", stacked: bool = True,
              width: float = 9.0, height: float = 3.4) -> str:
    """Bars per category; several series are stacked (negative values below zero), or side by
    side with ``stacked=False`` (rates, which do not add up)."""
    names = list(series)
    colours = _colours(names)
    figure = Figure(figsize=(width, height))
    axes = _axes(figure, title, x_label, y_label, unit)
    positions = list(range(len(categories)))
    up = [0.0] * len(categories)
    down = [0.0] * len(categories)
    tops, bottoms = [0.0], [0.0]
    group = 0.8 / max(len(names), 1)
    for n, name in enumerate(names):
        values = _floats(series[name])
        if stacked:
            bases = [up[i] if v >= 0 else down[i] for i, v in enumerate(values)]
            axes.bar(positions, values, 0.8, bottom=bases, color=colours[name], label=name)
            for i, v in enumerate(values):
                if v == v:
                    if v >= 0:
                        up[i] += v
                    else:
                        down[i] += v
        else:
            offset = [p - 0.4 + group * (n + 0.5) for p in positions]
            axes.bar(offset, values, group, color=colours[name], label=name)
            tops.extend(v for v in values if v == v)
            bottoms.extend(v for v in values if v == v)
    if stacked:
        tops, bottoms = up, down
    _from_zero(axes, bottoms, tops, unit)
    if any(v < 0 for v in bottoms):
        axes.axhline(0, color="#333333", linewidth=0.8)
    _x_ticks(axes, positions, [str(c) for c in categories], width)
    _legend(axes, len(names))
    return _svg(figure, title)


def paired_colours(names: Sequence[str]) -> dict[str, str]:
    """Two series per group (paid and forecast, say): the strong shade and the light shade of
    one hue, so a pair reads together while no two series share a colour (ten pairs at most)."""
    if len(names) > len(PALETTE):
        raise TooManySeries(f"{len(names)} series but {len(PALETTE)} distinct colours; "
                            "draw one small chart per group")
    return {name: PALETTE[i // 2 + (10 if i % 2 else 0)] for i, name in enumerate(names)}


def line_chart(title: str, x_values: Sequence[str | date], series: Series, *, y_label: str,
               unit: str = "", x_label: str = "", width: float = 9.0,
               height: float = 3.4, colours: Mapping[str, str] | None = None,
               dashed: Sequence[str] = ()) -> str:
    """One line per series over ordered categories (quarters, dates); ``colours`` may set each
    series' colour (they must differ) and ``dashed`` names series drawn dashed."""
    names = list(series)
    if colours is None:
        colours = _colours(names)
    elif len({colours[name] for name in names}) < len(names):
        raise TooManySeries("two series were given one colour")
    figure = Figure(figsize=(width, height))
    axes = _axes(figure, title, x_label, y_label, unit)
    labels = [v.isoformat() if isinstance(v, date) else str(v) for v in x_values]
    positions = list(range(len(labels)))
    everything: list[float] = []
    for name in names:
        values = _floats(series[name])
        everything.extend(values)
        axes.plot(positions, values, marker="o", markersize=3, color=colours[name], label=name,
                  linestyle="--" if name in dashed else "-")
    _from_zero(axes, everything, everything, unit)
    _x_ticks(axes, positions, labels, width)
    _legend(axes, len(names))
    return _svg(figure, title)


def small_multiples(title: str, panels: Mapping[str, tuple[Sequence[str], Series]], *,
                    y_label: str, unit: str = "", stacked: bool = True) -> str:
    """One small bar chart per panel (a site, say), each with its own legend, so that no chart
    carries more series than it can tell apart. Returns the charts one after another."""
    return "".join(
        bar_chart(f"{title}: {panel}", categories, series, y_label=y_label, unit=unit,
                  stacked=stacked, width=6.5, height=2.8)
        for panel, (categories, series) in panels.items())


def timeline(title: str, spans: Sequence[tuple[str, date, date]],
             marks: Sequence[tuple[str, date]] = (), *, width: float = 9.0) -> str:
    """Horizontal spans on a time axis (an offending clock's windows, say), one row each, with
    labelled marks (offences, releases) as vertical lines. The marks' labels stand above the
    plot, slanted, so no label lies over a bar; the title sits above them."""
    label_room = 0.9 if marks else 0.0
    figure = Figure(figsize=(width, 0.9 + label_room + 0.45 * max(len(spans), 1)))
    axes = figure.add_subplot()
    colours = _colours([label for label, _, _ in spans])
    for row, (label, start, end) in enumerate(spans):
        axes.barh(row, (end - start).days, left=matplotlib.dates.date2num(start), height=0.5,
                  color=colours[label])
    axes.set_yticks(range(len(spans)), [label for label, _, _ in spans])
    axes.invert_yaxis()
    for label, day in marks:
        axes.axvline(matplotlib.dates.date2num(day), color="#d62728", linewidth=1)
        axes.annotate(label, (matplotlib.dates.date2num(day), 1.0),
                      xycoords=("data", "axes fraction"), xytext=(0, 4),
                      textcoords="offset points", rotation=30, fontsize=7, va="bottom",
                      ha="left", color="#d62728", annotation_clip=False)
    axes.set_title(title, loc="left", fontsize=10, fontweight="bold",
                   pad=60 if marks else 6)
    axes.xaxis_date()
    axes.set_xlabel("date")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return _svg(figure, title)
