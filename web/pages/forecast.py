"""The providers' cash flow (``pbr forecast``, and ``--backtest``): the same services as the
command (ledger.forecast) and the same charts as its ``--html`` page. A provider user sees only
its own rows (docs/web.md decision 16)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ledger.forecast import backtest_document, forecast_document
from ledger.refusals import Refused
from web.base import (
    BadInput,
    Viewer,
    field,
    int_or_none,
    ledger_of,
    read_date,
    render,
    today,
    viewer,
)
from web.pictures import pictures
from web.security import NotFound

router = APIRouter()


def _periods(request: Request) -> int:
    periods = int_or_none(field(request.query_params, "periods"), "periods")
    if periods is None:
        return 4
    if not 1 <= periods <= 40:
        raise BadInput(f"periods: {periods} is not between 1 and 40")
    return periods


def _wanted(request: Request, who: Viewer) -> str | None:
    wanted = field(request.query_params, "provider")
    if who.provider is not None and wanted not in (None, who.provider):
        raise NotFound()  # another provider's forecast
    return who.provider or wanted


def only_provider(document: dict, provider: str) -> dict:
    """The forecast (or back-test) with only ``provider``'s rows."""
    shown = {**document, "provider_sites": {p: s for p, s in document["provider_sites"].items()
                                            if p == provider}}
    if "periods" in document and isinstance(document["periods"], list):
        shown["periods"] = [only_provider_period(period, provider)
                            for period in document["periods"]]
        shown["unscheduled"] = [u for u in document["unscheduled"] if u["provider"] == provider]
    if "forecasts" in document:
        shown["rows"] = [r for r in document["rows"] if r["provider"] == provider]
        shown["paid"] = [r for r in document["paid"] if r["provider"] == provider]
        shown["forecasts"] = [{**f, "periods": [only_provider_period(p, provider)
                                                for p in f["periods"]]}
                              for f in document["forecasts"]]
    return shown


def only_provider_period(period: dict, provider: str) -> dict:
    return {**period, "providers": {p: v for p, v in period["providers"].items()
                                    if p == provider}}


def unscheduled_totals(document: dict) -> list[tuple[str, int, object]]:
    """Per provider: how many pending entitlements have no date fixed yet, and their amount
    (the page names no client)."""
    totals: dict[str, list] = {}
    for item in document["unscheduled"]:
        entry = totals.setdefault(item["provider"], [0, 0])
        entry[0] += 1
        entry[1] += item["amount"]
    return [(p, n, a) for p, (n, a) in sorted(totals.items())]


@router.get("/forecast")
async def forecast_page(request: Request) -> HTMLResponse:
    who = viewer(request)
    periods = _periods(request)
    backtest = field(request.query_params, "backtest") is not None
    if backtest and field(request.query_params, "as_of") is not None:
        raise BadInput("the back-test takes the forecast at each recorded run's date: no "
                       "as-of date")
    as_of = read_date(request.query_params, "as_of", today(request))
    provider = _wanted(request, who)
    context = {"as_of": as_of, "periods": periods, "backtest": backtest, "provider": provider,
               "message": None, "code": None, "document": None, "charts": []}
    try:
        document = (backtest_document(ledger_of(request), periods) if backtest
                    else forecast_document(ledger_of(request), as_of, periods))
    except Refused as refused:
        return render(request, "forecast.html", who, 400,
                      **{**context, "message": str(refused), "code": refused.code})
    if provider is not None:
        if who.provider is None and provider not in document["provider_sites"]:
            raise NotFound()  # no such provider in this forecast
        document = only_provider(document, provider)
    from cli.commissioning_html import backtest_charts, forecast_charts

    charts = backtest_charts(document) if backtest else forecast_charts(document)
    extra = {} if backtest else {"unscheduled": unscheduled_totals(document)}
    return render(request, "forecast.html", who, **{**context, "document": document,
                                                    "charts": pictures(charts), **extra})
