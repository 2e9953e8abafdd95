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


def test_paired_series_take_the_strong_and_light_shade_of_one_hue_never_one_colour_twice():
    names = ["P1 paid", "P1 forecast", "P2 paid", "P2 forecast"]
    colours = charts.paired_colours(names)
    assert colours["P1 paid"] == charts.PALETTE[0] and colours["P1 forecast"] == charts.PALETTE[10]
    assert len(set(colours.values())) == len(names)
    with pytest.raises(charts.TooManySeries):
        charts.paired_colours([f"S{n}" for n in range(len(charts.PALETTE) + 1)])


def test_a_line_chart_given_one_colour_for_two_series_is_refused():
    with pytest.raises(charts.TooManySeries):
        charts.line_chart("Paid", ["Q1"], {"a": [1], "b": [2]}, y_label="paid", unit="£",
                          colours={"a": "#000000", "b": "#000000"})


def test_a_timeline_sets_its_mark_labels_above_the_plot():
    from datetime import date

    svg = charts.timeline("Clock", [("window", date(2012, 5, 1), date(2013, 5, 1))],
                          [("offence 2012-08-10", date(2012, 8, 10))])
    assert "offence 2012-08-10" in svg and "rotate(-30" in svg


def test_a_share_with_nothing_to_draw_runs_from_0_to_100_percent_in_whole_percents():
    svg = charts.line_chart("Completions", ["2012 Q2", "2012 Q3"], {"P1": [None, None],
                                                                   "P2": [None, None]},
                            y_label="of discharges", unit="%")
    assert ">0%<" in svg and ">100%<" in svg
    assert ">1%<" not in svg  # not 0 to 1 labelled 0%, 0%, 1%, 1%
