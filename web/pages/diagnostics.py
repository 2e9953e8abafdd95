"""Perverse-incentive diagnostics (``pbr diagnostics``): every indicator per provider, per site
and overall, the flags in words, and the charts of the command's ``--html`` page. The same
service as the command (ledger.diagnostics.diagnostics_document, the shipped baseline) and the
same chart builders (cli.diagnostics_html). A provider user sees only its own provider's
groups, and of a flag against its site's providers not the bound the others' figures make
(docs/web.md decision 19)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ledger.diagnostics import diagnostics_document
from projections.diagnostics import Period, default_period, quarters
from web import words
from web.base import BadInput, Viewer, field, ledger_of, read_date, render, today, viewer
from web.pictures import pictures
from web.security import NotFound

router = APIRouter()
MOST_QUARTERS = 40  # ten years quarter by quarter on one page

# The indicators table's columns: the document's key, and its heading.
COLUMNS = (("starts", "Starts"), ("discharges", "Discharges"),
           ("completion_rate", "Completed"), ("drop_out_rate", "Dropped out"),
           ("declined_rate", "Declined"), ("parked", "Parked"), ("parked_rate", "Parked share"),
           ("deaths_per_1000", "Deaths per 1,000"), ("abstinent_at_review", "Abstinent at review"),
           ("pairs_near_min_gap", "Reviews near the gap"),
           ("representation_rate", "Re-presented"))


def _form(request: Request) -> tuple[Period, date, bool]:
    """The period (``from``, ``to``; ``as_of``, as the command's ``--as-of``, only sets the
    defaults: its quarter up to it), ``known_on`` (default ``as_of``) and ``by_quarter``."""
    query = request.query_params
    as_of = read_date(query, "as_of", today(request))
    assert as_of is not None
    period = default_period(as_of, read_date(query, "from", None), read_date(query, "to", None))
    if period.start > period.end:
        raise BadInput(f"from: {period.start} is after to {period.end}")
    known_on = read_date(query, "known_on", as_of)
    assert known_on is not None
    by_quarter = field(query, "by_quarter") is not None
    if by_quarter and len(quarters(period.start, period.end)) > MOST_QUARTERS:
        raise BadInput(f"by quarter: {period.start} to {period.end} is more than "
                       f"{MOST_QUARTERS} quarters; choose a shorter period")
    return period, known_on, by_quarter


def _wanted(request: Request, who: Viewer) -> str | None:
    wanted = field(request.query_params, "provider")
    if who.provider is not None and wanted not in (None, who.provider):
        raise NotFound()  # another provider's diagnostics
    return who.provider or wanted


def periods_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "quarters" in document:
        return document["quarters"]
    return [{"from": document["from"], "to": document["to"], "groups": document["groups"]}]


def only_provider(document: dict[str, Any], provider: str) -> dict[str, Any]:
    """The document with only ``provider``'s own groups (one per site it works in): no site
    and no overall group, which add up the other providers' journeys too."""
    def own(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [g for g in groups if g["level"] == "provider" and g["provider"] == provider]

    if "quarters" in document:
        return {**document, "quarters": [{**q, "groups": own(q["groups"])}
                                         for q in document["quarters"]]}
    return {**document, "groups": own(document["groups"])}


def group_name(group: dict[str, Any]) -> str:
    if group["level"] == "provider":
        return f"{group['provider']} at site {group['site']}"
    if group["level"] == "site":
        return f"Site {group['site']}, all its providers"
    return "All sites"


def _flag_row(flag: dict[str, Any], peers_hidden: bool) -> dict[str, Any]:
    hidden = peers_hidden and flag["basis"] == "site_providers"
    if flag["basis"] == "baseline":
        judged = flag["judgement"] and not flag["source"].startswith("judgement")
        against = f"baseline{' (a judgement)' if judged else ''}: {flag['source']}"
    else:
        against = ("the site's other providers (their figures are not shown to a provider)"
                   if hidden else f"the site's providers: {flag['source']}")
    name, meaning = words.concern_parts(flag["concern"])
    return {"concern": flag["concern"], "name": name, "meaning": meaning,
            "finding": words.flag_finding(flag, hidden), "against": against,
            "indicator": flag["indicator"]}


def _shown_periods(document: dict[str, Any], peers_hidden: bool) -> list[dict[str, Any]]:
    shown = []
    for period in periods_of(document):
        groups = [{"name": group_name(g), "level": g["level"], "provider": g["provider"],
                   "site": g["site"], "indicators": g["indicators"],
                   "flags": [_flag_row(f, peers_hidden) for f in g["flags"]]}
                  for g in period["groups"]]
        shown.append({"from": period["from"], "to": period["to"],
                      "label": _quarter(period["from"]), "groups": groups})
    return shown


def _quarter(day: date) -> str:
    return f"{day.year} Q{(day.month - 1) // 3 + 1}"


def concern_grid(periods: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Quarter by quarter: each flagged provider group and the concerns flagged in each."""
    names = sorted({g["name"] for p in periods for g in p["groups"] if g["level"] == "provider"})
    rows = []
    for name in names:
        cells = [", ".join(sorted({f["name"] for g in p["groups"] if g["name"] == name
                                   for f in g["flags"]})) for p in periods]
        if any(cells):
            rows.append((name, cells))
    return rows


@router.get("/diagnostics")
async def diagnostics_page(request: Request) -> HTMLResponse:
    who = viewer(request)
    provider = _wanted(request, who)
    period, known_on, by_quarter = _form(request)
    context: dict[str, Any] = {
        "period": period, "known_on": known_on, "by_quarter": by_quarter, "provider": provider,
        "document": None, "periods": [], "charts": [], "columns": COLUMNS, "grid": []}
    if not request.query_params:  # the form, with the defaults: a large ledger takes a while
        return render(request, "diagnostics.html", who, **context)
    periods = quarters(period.start, period.end) if by_quarter else [period]
    document = diagnostics_document(ledger_of(request), periods, known_on,
                                    by_quarter=by_quarter)
    if provider is not None:
        known = {g["provider"] for p in periods_of(document) for g in p["groups"]}
        if who.provider is None and provider not in known:
            raise NotFound()  # no such provider in these diagnostics
        document = only_provider(document, provider)
    from cli.diagnostics_html import site_charts  # matplotlib: only for a page with figures

    shown = _shown_periods(document, peers_hidden=who.provider is not None)
    charts = pictures([svg for svgs in site_charts(document) for svg in svgs])
    return render(request, "diagnostics.html", who, **{
        **context, "document": document, "periods": shown, "charts": charts,
        "grid": concern_grid(shown) if by_quarter else [],
        "flag_count": sum(len(g["flags"]) for p in shown for g in p["groups"])})
