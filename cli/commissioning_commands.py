"""``pbr compare`` and ``pbr forecast``: the commissioner's what-if and the providers' cash flow
(RULES.md §11, §12). They parse, call the ledger's services and format what those return."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, parse_date, print_json, table
from ledger.compare import compare, load_rulesets
from ledger.forecast import backtest_document, forecast_document
from ledger.refusals import Refused
from ledger.rulesets import OPTIONS

AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="The date E (YYYY-MM-DD; default: today).", show_default=False)]
HtmlOption = Annotated[Path | None, typer.Option(
    "--html", help="Also write a self-contained HTML page (charts inline, no network).",
    show_default=False)]


def _write_html(path: Path | None, page: Callable[[], str]) -> None:
    """Write the page ``page()`` makes, if asked. The pages draw with matplotlib, imported only
    then: every other ``pbr`` command starts without it."""
    if path is None:
        return
    page_text = page()
    try:
        path.write_text(page_text, encoding="utf-8")
    except OSError as error:
        fail(f"--html: cannot write {path}: {error.strerror or error}")


def compare_command(
    rulesets: Annotated[list[str], typer.Argument(
        metavar="RULESET RULESET...", help="Published ruleset ids or paths to ruleset TOML "
                                           "files; the first is the one others are compared "
                                           "with.", show_default=False)],
    as_of: AsOfOption = None,
    known_on: Annotated[str | None, typer.Option(
        "--known-on", help="Use records received on or before this date (default: --as-of).",
        show_default=False)] = None,
    html: HtmlOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Work out one history under two or more rulesets, each as if it governed every journey;
    records nothing (RULES.md §11)."""
    as_of_date = parse_date(as_of, "--as-of") or date.today()
    known_on_date = parse_date(known_on, "--known-on") or as_of_date
    ledger = open_ledger(db, create=False)
    try:
        found = load_rulesets(ledger, rulesets)
        document = compare(ledger, found, as_of_date, known_on_date)
    except Refused as refused:
        fail(f"{refused} ({refused.code})")
    finally:
        ledger.close()
    _write_html(html, lambda: _pages().compare_page(document))
    if as_json:
        print_json(document)
        return
    typer.echo(compare_text(document))


def compare_text(document: dict) -> str:
    """The comparison as plain tables: by outcome, provider and site, and per profile."""
    rulesets = document["rulesets"]
    names = [r["ruleset"] for r in rulesets]
    lines = [f"compare as of {document['as_of']}, known on {document['known_on']}: "
             f"{', '.join(names)} (differences from {names[0]})", ""]
    outcomes = sorted({o for r in rulesets for o in r["by_outcome"]}, key=list(OPTIONS).index)

    def cell(ruleset: dict, key: str, name: str) -> str:
        amount = ruleset[key].get(name)
        if ruleset["difference"] is None or key not in ruleset["difference"]:
            return "-" if amount is None else str(amount)
        change = ruleset["difference"][key].get(name)
        return f"{amount or '0.00'} ({change:+})" if change else str(amount or "0.00")

    rows = [[name, OPTIONS[name], *(cell(r, "by_outcome", name) for r in rulesets)]
            for name in outcomes]
    rows.append(["total", "", *(f"{r['total']}" + (f" ({r['difference']['total']:+})"
                                                    if r["difference"] else "")
                                for r in rulesets)])
    lines += [table(rows, ["outcome", "option", *names]), ""]
    for key, title in (("by_provider", "provider"), ("by_site", "site")):
        keys = sorted({k for r in rulesets for k in r[key]})
        lines += [table([[k, *(cell(r, key, k) for r in rulesets)] for k in keys],
                        [title, *names]), ""]
    profiles = {}
    for index, ruleset in enumerate(rulesets):
        for row in ruleset["profiles"]:
            key = _profile_key(row)
            profiles.setdefault(key, [row["journeys"], *[""] * len(rulesets)])
            profiles[key][1 + index] = f"{row['max_earnable']} / {row['mean']}"
    lines.append("per profile: max_earnable / mean paid per journey")
    lines.append(table([[*key, str(values[0]), *values[1:]] for key, values in
                        sorted(profiles.items())],
                       ["substances", "offended", "injecting", "housing", "band", "journeys",
                        *names]))
    return "\n".join(lines)


def _profile_key(row: dict) -> tuple[str, ...]:
    return (row["substance_group"], _yes(row["offended_before"]), _yes(row["injecting"]),
            _yes(row["housing_problem"]), str(row["lasars_band"]))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def forecast_command(
    as_of: AsOfOption = None,
    periods: Annotated[int, typer.Option("--periods", min=1, max=40,
                                         help="Payment periods after E's.")] = 4,
    backtest: Annotated[bool, typer.Option(
        "--backtest", help="Take the forecast at each recorded run's date and print its mean "
                           "absolute error per provider and period ahead, as a share of what "
                           "the runs then paid.")] = False,
    html: HtmlOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per provider and each of the next payment periods: what is due, what is at stake and
    what is expected, as known on E (RULES.md §12)."""
    as_of_date = parse_date(as_of, "--as-of") or date.today()
    ledger = open_ledger(db, create=False)
    try:
        if backtest:
            if as_of is not None:
                fail("--backtest takes the forecast at each recorded run's date: no --as-of")
            document = backtest_document(ledger, periods)
        else:
            document = forecast_document(ledger, as_of_date, periods)
    except Refused as refused:
        fail(f"{refused} ({refused.code})")
    finally:
        ledger.close()
    _write_html(html, lambda: _pages().forecast_page(document, backtest))
    if as_json:
        print_json(document)
        return
    typer.echo(backtest_text(document) if backtest else forecast_text(document))


def forecast_text(document: dict) -> str:
    lines = [f"forecast as of {document['as_of']}, known on {document['known_on']}"]
    for period in document["periods"]:
        rows = [[provider, str(v["due"]), str(v["at_stake"]), str(v["expected"])]
                for provider, v in period["providers"].items()]
        lines += ["", f"period ending {period['period_end']}",
                  table(rows, ["provider", "due", "at_stake", "expected"]) if rows
                  else "nothing due or at stake"]
    totals: dict[str, list] = {}
    for item in document["unscheduled"]:
        entry = totals.setdefault(item["provider"], [0, 0])
        entry[0] += 1
        entry[1] += item["amount"]
    lines += ["", "unscheduled (pending, no date fixed yet): "
              + (", ".join(f"{p} {n} for {a}" for p, (n, a) in sorted(totals.items()))
                 or "none")]
    rows = [[r["ruleset"], r["outcome"], "" if r["instalment"] is None else str(r["instalment"]),
             str(r["decided"]), str(r["achieved"]), r["rate"] or "null",
             "yes" if r["pooled"] else "no"] for r in document["rates"]]
    if rows:
        lines += ["", table(rows, ["ruleset", "outcome", "instalment", "decided", "achieved",
                                   "rate", "pooled"])]
    return "\n".join(lines)


def backtest_text(document: dict) -> str:
    horizons = sorted({row["horizon"] for row in document["rows"]})
    by_provider: dict[str, dict[int, dict]] = {}
    for row in document["rows"]:
        by_provider.setdefault(row["provider"], {})[row["horizon"]] = row
    rows = [[provider, *(_share(found.get(h)) for h in horizons)]
            for provider, found in sorted(by_provider.items())]
    dates = ", ".join(d.isoformat() for d in document["taken"])
    return "\n".join([
        f"back-test: the forecast taken as of each run's date ({dates}) against what the runs "
        "as of each following period's end paid, net",
        "mean absolute error of expected, as a share of mean paid, by periods ahead:",
        table(rows, ["provider", *(f"{h} ahead" for h in horizons)])])


def _share(row: dict | None) -> str:
    if row is None or row["share_of_paid"] is None:
        return "-"
    return f"{row['share_of_paid'] * 100:.1f}% (n={row['forecasts']})"


def _pages() -> ModuleType:
    from cli import commissioning_html

    return commissioning_html


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
    app.command("forecast")(forecast_command)
