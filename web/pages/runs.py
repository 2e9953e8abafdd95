"""Payment runs: the list, taking or previewing a run, one run's lines (filtered, paged) with
its totals, and its statement as CSV or xlsx (the statement writers of ``pbr payments show``)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cli.payment_commands import run_json
from cli.statements import write_csv, write_xlsx
from ledger.refusals import Refused
from ledger.runs import PaymentRun, find_run, preview_run, recorded_runs, take_run
from ledger.scopes import VIEW_FILTERS, ScopedRun, run_view, scope_run
from ledger.users import RAISE_DISPUTE, TAKE_RUN
from web.base import (
    PAGE_SIZE,
    checked_form,
    field,
    int_or_none,
    knowledge_dates,
    ledger_of,
    log,
    permit,
    read_date,
    render,
    viewer,
)
from web.security import NotFound

router = APIRouter()
FILTERS = VIEW_FILTERS


@router.get("/runs")
async def runs_page(request: Request) -> HTMLResponse:
    who = viewer(request)
    return render(request, "runs.html", who, runs=_summaries(request, who),
                  may_take=who.may(TAKE_RUN), message=None)


def _summaries(request: Request, who: Any) -> list[Any]:
    """Each run as the viewer may see it (a provider: its own lines and total)."""
    ledger = ledger_of(request)
    return [run if who.provider is None else run_view(ledger, run, who.provider).run
            for run in recorded_runs(ledger)]


@router.post("/runs")
async def take_run_action(request: Request) -> Response:
    who = viewer(request)
    permit(who, TAKE_RUN)
    form = await checked_form(request, who)
    as_of = read_date(form, "as_of", None)
    if as_of is None:
        return _refused(request, who, "as of: the run's date is needed")
    known_on = read_date(form, "known_on", as_of)
    assert known_on is not None
    try:
        run = take_run(ledger_of(request), as_of, known_on)
    except Refused as refused:
        return _refused(request, who, str(refused), refused.code)
    return RedirectResponse(f"/runs/{run.run_id}", status_code=303)


def _refused(request: Request, who: Any, message: str, code: str | None = None) -> HTMLResponse:
    return render(request, "runs.html", who, 400, runs=_summaries(request, who),
                  may_take=who.may(TAKE_RUN),
                  message=message, code=code)


@router.get("/runs/preview")
async def preview_page(request: Request) -> HTMLResponse:
    """``pbr payments run --preview``: the run exactly as it would be recorded; records
    nothing, so any role may look (a provider at its own lines)."""
    who = viewer(request)
    as_of, known_on = knowledge_dates(request)
    run = preview_run(ledger_of(request), as_of, known_on)
    return _run_page(request, who, run, preview=True)


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str) -> HTMLResponse:
    who = viewer(request)
    return _run_page(request, who, _run(request, run_id), preview=False)


def _run(request: Request, run_id: str) -> PaymentRun.Taken:
    run = find_run(ledger_of(request), run_id)
    if run is None:
        raise NotFound()
    return run


def _run_page(request: Request, who: Any, run: Any, preview: bool) -> HTMLResponse:
    params = request.query_params
    if who.provider is not None and field(params, "provider") not in (None, who.provider):
        raise NotFound()  # another provider's lines or totals
    view = run_view(ledger_of(request), run, who.provider, recorded=not preview)
    scoped, rows = view.run, view.rows
    chosen = {name: field(params, name) for name in FILTERS}
    wanted = [(name, value) for name, value in chosen.items() if value is not None]
    matching = rows if not wanted else [
        row for row in rows if all(str(row.get(name) or "") == value for name, value in wanted)]
    page = max(int_or_none(field(params, "page"), "page") or 1, 1)
    pages = max((len(matching) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    if page > pages:
        raise NotFound()
    shown = matching[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    what = "run preview" if preview else f"run {run.run_id}"
    log(request, who, [row["client"] for row in shown], f"{what} lines page {page}")
    filtered_total = scoped.total if not wanted else sum(
        (Decimal(str(row["amount"])) for row in matching), Decimal("0.00"))
    return render(request, "run.html", who, run=scoped, preview=preview, lines=shown,
                  chosen=chosen, options=view.options, page=page, pages=pages,
                  matching=len(matching), filtered_total=filtered_total,
                  query=_query(chosen), may_raise=who.may(RAISE_DISPUTE) and not preview)


def _query(chosen: dict[str, str | None]) -> str:
    return urlencode({name: value for name, value in chosen.items() if value})


def _statement_run(request: Request, who: Any, run_id: str) -> tuple[ScopedRun, str]:
    run = _run(request, run_id)
    wanted = field(request.query_params, "provider")
    if who.provider is not None and wanted not in (None, who.provider):
        raise NotFound()  # another provider's statement
    scoped = scope_run(run, who.provider or wanted)
    if wanted is not None and not scoped.lines and wanted not in run.provider_totals:
        raise NotFound()
    provider = who.provider or wanted
    return scoped, f"statement-{run.run_id}" + (f"-{provider}" if provider else "")


@router.get("/runs/{run_id}/statement.xlsx")
async def statement_xlsx(request: Request, run_id: str) -> Response:
    who = viewer(request)
    scoped, name = _statement_run(request, who, run_id)
    document = run_json(scoped)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="pbr-statement-") as folder:
        path = Path(folder) / "statement.xlsx"
        write_xlsx(document, path)
        body = path.read_bytes()
    log(request, who, [line["client"] for line in document["lines"]],
        f"statement {run_id} xlsx")
    return Response(body, media_type="application/vnd.openxmlformats-officedocument."
                                      "spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@router.get("/runs/{run_id}/statement.zip")
async def statement_csv(request: Request, run_id: str) -> Response:
    """The CSV statement: its three files (inputs, lines, totals) in one zip."""
    who = viewer(request)
    scoped, name = _statement_run(request, who, run_id)
    document = run_json(scoped)  # type: ignore[arg-type]
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="pbr-statement-") as folder:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in write_csv(document, Path(folder)):
                archive.write(path, f"{name}/{path.name}")
    log(request, who, [line["client"] for line in document["lines"]],
        f"statement {run_id} csv")
    return Response(buffer.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})
