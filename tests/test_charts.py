"""The chart helpers: readable by construction (units on the axis, zero in range, distinct
colours), and refusing what cannot be read."""

from decimal import Decimal

import pytest

from cli import charts


def test_a_bar_chart_is_one_svg_element_with_its_title_and_unit():
    svg = charts.bar_chart("Net paid", ["2012-06-30", "2012-09-30"],
                           {"P1": [Decimal("1500.00"), Decimal("-1500.00")], "P2": [500, 700]},
                           y_label="net paid", unit="£")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'aria-label="Net paid"' in svg
    assert "net paid (£)" in svg
    assert "-£" in svg  # a negative tick is labelled as money below zero


def test_more_series_than_colours_is_refused():
    series = {f"P{n}": [n] for n in range(len(charts.PALETTE) + 1)}
    with pytest.raises(charts.TooManySeries):
        charts.bar_chart("Too many", ["Q1"], series, y_label="net paid", unit="£")


def test_the_same_chart_gives_the_same_bytes():
    def draw() -> str:
        return charts.line_chart("Rate", ["2012-Q2", "2012-Q3"], {"P1": [40, None]},
                                 y_label="completion rate", unit="%")
    assert draw() == draw()
