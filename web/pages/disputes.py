"""Disputes: the list, raising one from a run line or an outcome, notes and the resolution —
each the same ledger service and event as ``pbr disputes``, naming the signed-in user."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ledger.disputes import (
    DisputeRefused,
    note_dispute,
    raise_dispute,
    read_dispute,
    read_disputes,
    resolve_dispute,
)
from ledger.runs import find_run
from ledger.scopes import journey_providers, line_provider, may_see_client, may_see_dispute
from ledger.users import NOTE_DISPUTE, RAISE_DISPUTE, RESOLVE_DISPUTE
from projections.payments import line_json
from web.base import (
    BadInput,
    Viewer,
    checked_form,
    field,
    int_or_none,
    ledger_of,
    log,
    permit,
    read_date,
    render,
    today,
    viewer,
)
from web.security import NotFound

router = APIRouter()
TARGET_FIELDS = ("run", "line", "client", "outcome", "journey", "instalment", "provider")


@router.get("/disputes")
async def disputes_page(request: Request) -> HTMLResponse:
    who = viewer(request)
    disputes = [d for d in read_disputes(ledger_of(request)) if may_see_dispute(d, who.provider)]
    log(request, who, [d.client for d in disputes], "disputes list")
    return render(request, "disputes.html", who, disputes=disputes)


def _target(request: Request, who: Viewer, source: Any) -> dict[str, Any]:
    """What is disputed, as named by the form; a provider asking for another provider's line or
    client gets 404 before any service runs (the service would refuse it too)."""
    target = {name: field(source, name) for name in TARGET_FIELDS}
    ledger = ledger_of(request)
    if target["run"] is not None:
        run = find_run(ledger, target["run"])
        number = int_or_none(target["line"], "line")
        owner = line_provider(run, number) if run is not None and number is not None else False
        if owner is False or (who.provider is not None and owner != who.provider):
            raise NotFound()
        row = line_json(run.lines[number - 1])  # type: ignore[union-attr,operator]
        target.update(provider=owner, client=row["client"], journey=row["journey"],
                      outcome=row["outcome"], instalment=row["instalment"], line=number)
    elif target["client"] is not None:
        events = ledger.client_events(target["client"])
        if not may_see_client(events, who.provider):
            raise NotFound()
        target["instalment"] = int_or_none(target["instalment"], "instalment")
        if target["provider"] is None:  # the journey's provider disputes, whoever types it
            providers = journey_providers(events)
            named = ({providers.get(target["journey"])} if target["journey"]
                     else set(providers.values()))
            target["provider"] = named.pop() if len(named) == 1 else None
    else:
        raise BadInput("name a run line or a client's outcome to dispute")
    if who.provider is not None:
        target["provider"] = who.provider
    return target


@router.get("/disputes/new")
async def new_dispute(request: Request) -> HTMLResponse:
    who = viewer(request)
    permit(who, RAISE_DISPUTE)
    target = _target(request, who, request.query_params)
    log(request, who, [target["client"]], "dispute form")
    return render(request, "dispute_new.html", who, target=target, today=today(request),
                  message=None)


@router.post("/disputes")
async def raise_action(request: Request) -> Response:
    who = viewer(request)
    permit(who, RAISE_DISPUTE)
    form = await checked_form(request, who)
    target = _target(request, who, form)
    now = today(request)
    raised_on = read_date(form, "on", now)
    assert raised_on is not None
    try:
        dispute = raise_dispute(
            ledger_of(request), target["provider"] or "", raised_on, field(form, "reason") or "",
            today=now, by=who.name, run_id=target["run"], line=target["line"],
            client=target["client"] if target["run"] is None else None,
            journey=target["journey"] if target["run"] is None else None,
            outcome=target["outcome"] if target["run"] is None else None,
            instalment=target["instalment"] if target["run"] is None else None)
    except DisputeRefused as refused:
        return render(request, "dispute_new.html", who, 400, target=target, today=now,
                      message=str(refused), code=refused.code)
    return RedirectResponse(f"/disputes/{dispute.dispute_id}", status_code=303)


def _dispute(request: Request, who: Viewer, dispute_id: str) -> Any:
    dispute = read_dispute(ledger_of(request), dispute_id)
    if dispute is None or not may_see_dispute(dispute, who.provider):
        raise NotFound()
    return dispute


def _page(request: Request, who: Viewer, dispute: Any, status: int = 200,
          message: str | None = None, code: str | None = None) -> HTMLResponse:
    log(request, who, [dispute.client], f"dispute {dispute.dispute_id}")
    return render(request, "dispute.html", who, status, dispute=dispute, today=today(request),
                  may_note=who.may(NOTE_DISPUTE), may_resolve=who.may(RESOLVE_DISPUTE),
                  message=message, code=code)


@router.get("/disputes/{dispute_id}")
async def dispute_page(request: Request, dispute_id: str) -> HTMLResponse:
    who = viewer(request)
    return _page(request, who, _dispute(request, who, dispute_id))


@router.post("/disputes/{dispute_id}/notes")
async def note_action(request: Request, dispute_id: str) -> Response:
    who = viewer(request)
    permit(who, NOTE_DISPUTE)
    dispute = _dispute(request, who, dispute_id)
    form = await checked_form(request, who)
    now = today(request)
    on = read_date(form, "on", now)
    assert on is not None
    evidence = [item.strip() for item in (field(form, "evidence") or "").splitlines()
                if item.strip()]
    try:
        note_dispute(ledger_of(request), dispute_id, on, field(form, "note") or "", evidence,
                     today=now, by=who.name)
    except DisputeRefused as refused:
        return _page(request, who, dispute, 400, str(refused), refused.code)
    return RedirectResponse(f"/disputes/{dispute_id}", status_code=303)


@router.post("/disputes/{dispute_id}/resolution")
async def resolve_action(request: Request, dispute_id: str) -> Response:
    who = viewer(request)
    permit(who, RESOLVE_DISPUTE)
    dispute = _dispute(request, who, dispute_id)
    form = await checked_form(request, who)
    now = today(request)
    on = read_date(form, "on", now)
    assert on is not None
    amount_text = field(form, "amount")
    try:
        amount = None if amount_text is None else Decimal(amount_text)
    except InvalidOperation:
        return _page(request, who, dispute, 400,
                     f"amount: {amount_text!r} is not an amount in pounds, e.g. 250.00")
    try:
        resolve_dispute(ledger_of(request), dispute_id, on, field(form, "resolution") or "",
                        amount, field(form, "reason") or "", today=now, by=who.name)
    except DisputeRefused as refused:
        return _page(request, who, dispute, 400, str(refused), refused.code)
    return RedirectResponse(f"/disputes/{dispute_id}", status_code=303)
