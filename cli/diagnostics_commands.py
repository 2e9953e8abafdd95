"""``pbr diagnostics``: perverse-incentive indicators and their flags (RULES.md §10)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, parse_date, print_json, table
from ledger.baselines import Baseline, read_baseline
from ledger.diagnostics import Diagnosis, diagnose_ledger, diagnostics_json
from ledger.rulesets import RulesetError
from projections.diagnostics import Period, default_period, indicators, quarters

SHOWN = ("starts", "discharges", "completion_rate", "drop_out_rate", "declined_rate", "parked",
         "deaths_per_1000", "abstinent_at_review", "pairs_near_min_gap", "representation_rate")


def period_from_options(as_of: date, start: date | None, end: date | None) -> Period:
    """``--from`` / ``--to``; by default the quarter that E falls in, up to E (decision 10)."""
    period = default_period(as_of, start, end)
    if period.start > period.end:
        fail(f"--from: {period.start} is after --to {period.end}")
    return period


def _baseline(path: Path | None) -> Baseline:
    try:
        return read_baseline(path)
    except OSError as error:
        fail(f"--baseline: cannot read {path} ({error.strerror})")
    except RulesetError as error:
        fail(f"--baseline: {path}: {error}")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _text(diagnosis: Diagnosis) -> str:
    head = (f"diagnostics {diagnosis.period.start} to {diagnosis.period.end}, known on "
            f"{diagnosis.known_on}")
    rows, flag_lines = [], []
    for group, flags in zip(diagnosis.groups, diagnosis.flags, strict=True):
        name = group.provider or group.site or "all"
        values = indicators(group.tally)
        band = values["band_mix"]
        rows.append([group.level, name, *(_cell(values[k]) for k in SHOWN),
                     "/".join(_cell(band[b]) or "-" for b in "123"), str(len(flags))])
        flag_lines += [f"  {name}: {f.concern} — {f.indicator} {f.value} is "
                       f"{'below' if f.side == 'low' else 'above'} {f.bound} ({f.basis}: "
                       f"{f.source})" for f in flags]
    text = table(rows, ["level", "group", *SHOWN, "band_mix 1/2/3", "flags"])
    flagged = "\n".join(flag_lines) if flag_lines else "  none"
    return f"{head}\n{text}\nflags:\n{flagged}"


def diagnostics(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="E (YYYY-MM-DD; default today): the period defaults to E's quarter, "
                        "up to E.", show_default=False)] = None,
    start: Annotated[str | None, typer.Option(
        "--from", help="The period's first day (default: the first day of --to's quarter).",
        show_default=False)] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="The period's last day (default: --as-of).", show_default=False)] = None,
    known_on: Annotated[str | None, typer.Option(
        "--known-on", help="Use only records received on or before this date (default: "
                           "--as-of).", show_default=False)] = None,
    baseline_file: Annotated[Path | None, typer.Option(
        "--baseline", help="A baseline TOML file (default: the shipped England 2011-12 one).",
        show_default=False)] = None,
    by_quarter: Annotated[bool, typer.Option(
        "--by-quarter", help="One set of diagnostics per calendar quarter of the period.")
    ] = False,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Also write a self-contained HTML page to this file.",
        show_default=False)] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Perverse-incentive diagnostics per provider, per site and overall, flagged against a
    baseline and against each site's providers (creaming, parking, gaming, adverse outcomes)."""
    as_of_date = parse_date(as_of, "--as-of") or date.today()
    period = period_from_options(as_of_date, parse_date(start, "--from"),
                                 parse_date(end, "--to"))
    known_on_date = parse_date(known_on, "--known-on") or as_of_date
    baseline = _baseline(baseline_file)
    periods = quarters(period.start, period.end) if by_quarter else [period]
    found = diagnose_ledger(open_ledger(db, create=False), periods, known_on_date, baseline)
    document = diagnostics_json(found, baseline, by_quarter)
    if html is not None:
        from cli.diagnostics_html import diagnostics_page  # matplotlib: only for a page
        try:
            html.write_text(diagnostics_page(document), encoding="utf-8")
        except OSError as error:
            fail(f"--html: cannot write {html} ({error.strerror})")
    if as_json:
        print_json(document)
        return
    typer.echo("\n\n".join(_text(d) for d in found))
    if html is not None:
        typer.echo(f"\nwrote {html}")


def register(app: typer.Typer) -> None:
    app.command("diagnostics")(diagnostics)

