"""``pbr diagnostics``: perverse-incentive indicators and their flags (RULES.md §10)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, parse_date, print_json, table
from ledger.baselines import Baseline, read_baseline
from ledger.diagnostics import Diagnosis, diagnose_ledger
from ledger.rulesets import RulesetError
from ledger.store import Ledger
from projections.diagnostic_flags import Flag
from projections.diagnostics import Period, indicators, quarters

SHOWN = ("starts", "discharges", "completion_rate", "drop_out_rate", "declined_rate", "parked",
         "deaths_per_1000", "abstinent_at_review", "pairs_near_min_gap", "representation_rate")


def period_from_options(as_of: date, start: date | None, end: date | None) -> Period:
    """``--from`` / ``--to``; by default the quarter that E falls in, up to E (decision 10)."""
    end = end or as_of
    if start is None:
        start = date(end.year, (end.month - 1) // 3 * 3 + 1, 1)
    if start > end:
        fail(f"--from: {start} is after --to {end}")
    return Period(start, end)


def _baseline(path: Path | None) -> Baseline:
    try:
        return read_baseline(path)
    except OSError as error:
        fail(f"--baseline: cannot read {path} ({error.strerror})")
    except RulesetError as error:
        fail(f"--baseline: {path}: {error}")


def flag_json(flag: Flag) -> dict[str, Any]:
    return {"indicator": flag.indicator, "value": flag.value, "bound": flag.bound,
            "concern": flag.concern, "basis": flag.basis, "side": flag.side,
            "source": flag.source, "judgement": flag.judgement}


def groups_json(diagnosis: Diagnosis) -> list[dict[str, Any]]:
    """CONTRACT.md's ``groups``: level, site, provider, indicators and flags."""
    return [{"level": group.level, "site": group.site, "provider": group.provider,
             "indicators": indicators(group.tally), "flags": [flag_json(f) for f in flags]}
            for group, flags in zip(diagnosis.groups, diagnosis.flags, strict=True)]


def diagnostics_json(found: list[Diagnosis], baseline: Baseline, by_quarter: bool,
                     ) -> dict[str, Any]:
    first, last = found[0], found[-1]
    document: dict[str, Any] = {"from": first.period.start, "to": last.period.end,
                                "known_on": first.known_on, "baseline": baseline.id,
                                "min_denominator": baseline.min_denominator}
    if by_quarter:
        document["quarters"] = [{"from": d.period.start, "to": d.period.end,
                                 "groups": groups_json(d)} for d in found]
    else:
        document["groups"] = groups_json(first)
    return document


def diagnostics_document(ledger: Ledger, periods: list[Period], known_on: date,
                         baseline: Baseline | None = None, by_quarter: bool = False,
                         ) -> dict[str, Any]:
    """The ``pbr diagnostics --json`` document of ``periods`` (one, or the quarters with
    ``by_quarter``), known on ``known_on``, against ``baseline`` (default: the shipped one).
    The demo's report passes it to :func:`cli.diagnostics_html.diagnostics_section`."""
    baseline = baseline or read_baseline(None)
    found = diagnose_ledger(ledger, periods, known_on, baseline)
    return diagnostics_json(found, baseline, by_quarter)


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

