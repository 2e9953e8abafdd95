"""Reconciliation: each run's statement per provider against what was remitted (``pbr
reconcile``), and importing a remittance file (``pbr remittances import``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from ledger.importer import UnreadableInput
from ledger.refusals import Refused
from ledger.remittances import import_remittances, reconcile
from ledger.users import IMPORT_REMITTANCES
from web.base import Viewer, checked_form, field, ledger_of, permit, render, viewer
from web.security import NotFound

router = APIRouter()
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _rows(request: Request, who: Viewer, run: str | None) -> list[dict]:
    try:
        rows = reconcile(ledger_of(request), run)
    except Refused:
        raise NotFound() from None
    return [row for row in rows if who.provider is None or row["provider"] == who.provider]


@router.get("/reconciliation")
async def reconciliation_page(request: Request) -> HTMLResponse:
    who = viewer(request)
    run = field(request.query_params, "run")
    return render(request, "reconciliation.html", who, rows=_rows(request, who, run), run=run,
                  may_import=who.may(IMPORT_REMITTANCES), report=None, message=None)


@router.post("/reconciliation/remittances")
async def import_action(request: Request) -> HTMLResponse:
    who = viewer(request)
    permit(who, IMPORT_REMITTANCES)
    form = await checked_form(request, who)
    upload = form.get("file")
    report, message, status = None, None, 200
    if not isinstance(upload, UploadFile):
        message, status = "file: choose a remittance CSV file to import", 400
    else:
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            message, status = "file: larger than 20 MB", 400
        else:
            with tempfile.TemporaryDirectory(prefix="pbr-remittances-") as folder:
                path = Path(folder) / "remittances.csv"
                path.write_bytes(data)
                try:
                    report = import_remittances(ledger_of(request), path)
                except UnreadableInput as error:
                    message, status = str(error).replace(str(path), "file"), 400
            if report is not None and report.rejects:
                status = 400
    return render(request, "reconciliation.html", who, status, rows=_rows(request, who, None),
                  run=None, may_import=True, report=report, message=message)
