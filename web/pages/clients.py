"""Clients: search by id, and a client's page — records, outcomes explained, the offending clock
drawn on a time axis, and the run lines that paid or clawed back each entitlement (the same
services as ``pbr explain`` and ``pbr clock``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cli.charts import timeline
from ledger.disputes import read_disputes
from ledger.events import Correction, RecordEvent
from ledger.explanations import explain_client, offending_clocks, own_date
from ledger.scopes import (
    find_clients,
    may_see_client,
    may_see_dispute,
    own_journeys,
    visible_records,
)
from ledger.users import RAISE_DISPUTE
from projections.offending import Clock
from web.base import field, knowledge_dates, ledger_of, log, render, viewer
from web.security import NotFound

router = APIRouter()


@router.get("/clients")
async def clients_page(request: Request) -> HTMLResponse:
    who = viewer(request)
    query = field(request.query_params, "q")
    found = find_clients(ledger_of(request), query, who.provider) if query else []
    log(request, who, found, f"client search {query!r}")
    return render(request, "clients.html", who, query=query or "", found=found)


@router.get("/clients/{client}")
async def client_page(request: Request, client: str) -> HTMLResponse:
    who = viewer(request)
    ledger = ledger_of(request)
    events = ledger.client_events(client)
    if not may_see_client(events, who.provider):
        raise NotFound()
    as_of, known_on = knowledge_dates(request)
    journeys = own_journeys(events, who.provider)
    explained = explain_client(ledger, client, as_of, known_on)
    explanations = [e for e in explained.explanations
                    if journeys is None or e.result.journey in journeys] if explained else []
    clocks = [c for c in offending_clocks(ledger, client, as_of, known_on) or []
              if journeys is None or c.journey in journeys]
    disputes = [d for d in read_disputes(ledger)
                if d.client == client and may_see_dispute(d, who.provider)]
    log(request, who, [client], "client page")
    return render(request, "client.html", who, client=client, as_of=as_of, known_on=known_on,
                  registered=explained is not None, explanations=explanations,
                  unruled=[u for u in (explained.unruled if explained else ())
                           if journeys is None or u.journey in journeys],
                  timeline=timeline_rows(visible_records(events, who.provider), known_on),
                  clocks=clocks,
                  disputes=disputes, may_raise=who.may(RAISE_DISPUTE))


@router.get("/clients/{client}/clocks/{journey}/{outcome}.svg")
async def clock_svg(request: Request, client: str, journey: str, outcome: str) -> Response:
    """The offending clock drawn on a time axis (cli/charts.py), as its own SVG resource so the
    page does not wait for matplotlib (docs/web.md decision 12)."""
    who = viewer(request)
    ledger = ledger_of(request)
    events = ledger.client_events(client)
    journeys = own_journeys(events, who.provider)
    if not may_see_client(events, who.provider) or (journeys is not None
                                                     and journey not in journeys):
        raise NotFound()
    as_of, known_on = knowledge_dates(request)
    clock = next((c for c in offending_clocks(ledger, client, as_of, known_on) or []
                  if c.journey == journey and c.outcome == outcome), None)
    if clock is None:
        raise NotFound()
    log(request, who, [client], "clock chart")
    svg = clock_chart(clock, as_of)
    # matplotlib's SVG carries its own <style>; the image may use it and nothing else.
    return Response('<?xml version="1.0" encoding="utf-8"?>\n' + _with_namespace(svg),
                    media_type="image/svg+xml", headers={
                        "Content-Security-Policy": "default-src 'none'; "
                                                   "style-src 'unsafe-inline'"})


def _with_namespace(svg: str) -> str:
    """A standalone SVG file needs its namespace (inline SVG inherits it from HTML)."""
    if "xmlns=" in svg.split(">", 1)[0]:
        return svg
    return svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)


def timeline_rows(events: list[RecordEvent], known_on: date) -> list[dict[str, Any]]:
    """The records known on K in the order received, each with its own date and when it was
    received; a retracted record names the correction that withdrew it."""
    known = [e for e in events if e.received_on <= known_on]
    corrections = {e.retracts: e for e in known if isinstance(e, Correction)}
    rows = []
    for event in known:
        correction = corrections.get(event.source_id)
        rows.append({"event": event, "on": own_date(event),
                     "journey": getattr(event, "journey", None),
                     "retracted_by": correction})
    return rows


def clock_chart(clock: Clock, as_of: date) -> str:
    """The clock on a time axis: one bar per start (journey start, reset, push) running until
    it was superseded, or to its target date; the offences behind the resets as marks."""
    spans, marks = [], []
    for number, start in enumerate(clock.starts, start=1):
        if start.on is None:
            continue
        last = number == len(clock.starts)
        end = start.superseded_on or (clock.target_on if last and clock.target_on else as_of)
        cause = {"journey_start": "journey start", "reset": "reset", "push": "push"}.get(
            start.cause, start.cause)
        spans.append((f"{number}. {cause} {start.on}", start.on, max(end, start.on)))
        if start.offence_on is not None:
            marks.append((f"offence {start.offence_on}", start.offence_on))
    if clock.target_on is not None:
        marks.append((f"target {clock.target_on}", clock.target_on))
    return timeline(f"Offending clock, journey {clock.journey} ({clock.outcome})", spans, marks)
