"""The commissioner's what-if (``pbr compare``): one history under two or more rulesets, each
as if it governed every journey, recording nothing. The same services as the command
(ledger.compare) and the same charts as its ``--html`` page (cli.commissioning_html)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ledger.compare import compare, load_rulesets
from ledger.refusals import Refused
from ledger.rulesets import OPTIONS, option_rulesets
from web.base import Viewer, field, knowledge_dates, ledger_of, render, viewer
from web.pictures import pictures

router = APIRouter()


def _choices(request: Request) -> tuple[list[str], list[str]]:
    """The published ruleset ids, and the shipped options' ids."""
    published = sorted(r.id for r in ledger_of(request).rulesets())
    return published, [r.id for r in option_rulesets() if r.id not in published]


def provider_view(document: dict, provider: str) -> dict:
    """What a provider sees of a comparison (docs/web.md decision 15): its own total under each
    ruleset and its difference from the first; nothing summed over other providers."""
    rulesets = []
    for ruleset in document["rulesets"]:
        difference = ruleset["difference"]
        rulesets.append({"ruleset": ruleset["ruleset"],
                         "total": ruleset["by_provider"].get(provider),
                         "difference": None if difference is None else
                         difference["by_provider"].get(provider)})
    return {"as_of": document["as_of"], "known_on": document["known_on"],
            "provider": provider, "rulesets": rulesets}


@router.get("/compare")
async def compare_page(request: Request) -> HTMLResponse:
    who = viewer(request)
    as_of, known_on = knowledge_dates(request)
    published, shipped = _choices(request)
    base = field(request.query_params, "base")
    others = [value.strip() for value in request.query_params.getlist("with") if value.strip()]
    context = {"as_of": as_of, "known_on": known_on,
               "known_on_given": field(request.query_params, "known_on"),
               "published": published, "shipped": shipped,
               "base": base or (published[0] if published else None), "others": others,
               "document": None, "mine": None, "message": None, "code": None,
               "totals_charts": [], "profile_charts": [], "options": OPTIONS}
    if base is None and not others:
        return render(request, "compare.html", who, **context)
    try:
        found = load_rulesets(ledger_of(request), [base or "", *others], files=False)
        document = compare(ledger_of(request), found, as_of, known_on)
    except Refused as refused:
        return render(request, "compare.html", who, 400,
                      **{**context, "message": str(refused), "code": refused.code})
    return render(request, "compare.html", who, **{**context, **_shown(who, document)})


def _shown(who: Viewer, document: dict) -> dict:
    if who.provider is not None:
        return {"mine": provider_view(document, who.provider)}
    from cli.commissioning_html import compare_charts, profile_rows

    totals, profiles = compare_charts(document)
    rulesets = document["rulesets"]
    return {"document": document, "totals_charts": pictures(totals),
            "profile_charts": pictures(profiles), "profiles": profile_rows(rulesets),
            "outcomes": [o for o in OPTIONS if any(o in r["by_outcome"] for r in rulesets)],
            "names": {key: sorted({k for r in rulesets for k in r[key]})
                      for key in ("by_provider", "by_site")}}
