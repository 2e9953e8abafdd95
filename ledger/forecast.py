"""``pbr forecast`` in the ledger (RULES.md §12): read from the projection tables, or derived.

When the projection tables are current for E (their date, on current knowledge) the forecast
reads them: the achieved entitlements still to be paid, the pending and failed entitlements of
``pbr_forecast_units`` (each pending one with its fixed payable date, worked out when the tables
were built) and the decided counts, grouped in the database. Otherwise every client is derived
as of E known on E. The back-test takes the forecast at each recorded run's date and sets it
beside what the runs as of the following period ends paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import text

from ledger.events import RecordEvent
from ledger.memory import cycle_collection_paused
from ledger.refusals import Refused
from ledger.rulesets import Ruleset
from ledger.runs import recorded_runs
from ledger.store import Ledger
from ledger.views import Projection
from projections.engine import derive_history
from projections.forecast import (
    Achieved,
    Unit,
    achieved_entitlements,
    backtest,
    client_units,
    forecast,
)
from projections.history import build_history

NO_RULESET = "no_ruleset"
NO_RUNS = "no_runs"


def payment_period(rulesets: Sequence[Ruleset]) -> str:
    """The forecast's periods: the rulesets' own, or months when they differ (commissioning
    decision 6: every payable date then falls in exactly one period)."""
    kinds = {ruleset.payment_period for ruleset in rulesets}
    if not kinds:
        raise Refused(NO_RULESET, "no ruleset is published: nothing can be forecast")
    return kinds.pop() if len(kinds) == 1 else "month"


def _from_projection(projection: Projection, as_of: date,
                     ) -> tuple[list[Achieved], list[Unit], dict]:
    day = as_of.isoformat()
    with projection.datastore.transaction(commit=False) as session:
        def rows(sql: str) -> list:
            return list(session.execute(text(sql), {"day": day}))
        achieved = [Achieved(outcome, n, provider, site, ruleset, Decimal(amount),
                             date.fromisoformat(payable_on), client is None)
                    for client, outcome, n, provider, site, ruleset, amount, payable_on in rows(
                        "SELECT client, outcome, instalment, provider, site, ruleset, amount, "
                        "payable_on FROM pbr_entitlements WHERE payable_on > :day")]
        units = [Unit(client, journey, outcome, n, provider, site, ruleset, "pending",
                      Decimal(amount), None if payable_on is None
                      else date.fromisoformat(payable_on))
                 for client, journey, outcome, n, provider, site, ruleset, amount, payable_on
                 in rows("SELECT client, journey, outcome, instalment, provider, site, ruleset, "
                         "amount, payable_on FROM pbr_forecast_units WHERE status = 'pending'")]
        counts: dict[tuple, list[int]] = {}
        for ruleset, outcome, n, count in rows(
                "SELECT ruleset, outcome, instalment, count(*) FROM pbr_entitlements "
                "WHERE client IS NOT NULL GROUP BY ruleset, outcome, instalment"):
            counts[(ruleset, outcome, n)] = [count, count]
        for ruleset, outcome, n, count in rows(
                "SELECT ruleset, outcome, instalment, count(*) FROM pbr_forecast_units "
                "WHERE status = 'failed' GROUP BY ruleset, outcome, instalment"):
            counts.setdefault((ruleset, outcome, n), [0, 0])[0] += count
    return achieved, units, {key: (d, a) for key, (d, a) in counts.items()}


def _derived(events_by_client: Mapping[str, Sequence[RecordEvent]], rulesets: list[Ruleset],
             as_of: date) -> tuple[list[Achieved], list[Unit]]:
    """Every client derived as of E known on E: the achieved and the pending or failed."""
    by_id = {ruleset.id: ruleset for ruleset in rulesets}
    achieved: list[Achieved] = []
    units: list[Unit] = []
    for client in sorted(events_by_client):
        history = build_history(events_by_client[client], as_of, as_of)
        if history is None:
            continue
        results = derive_history(history, rulesets).outcomes
        achieved += achieved_entitlements(results)
        units += client_units(history, results, by_id)
    return achieved, units


@cycle_collection_paused()
def forecast_document(ledger: Ledger, as_of: date, periods: int) -> dict:
    """RULES.md §12: the forecast as of E, known on E (CONTRACT.md ``pbr forecast --json``)."""
    rulesets = ledger.rulesets()
    kind = payment_period(rulesets)
    projection = Projection.existing(ledger)
    served = projection is not None and projection.has_commissioning_rows() \
        and projection.serves(as_of, as_of)
    if served:
        achieved, units, counts = _from_projection(projection, as_of)
        document = forecast(as_of, periods, kind, achieved, units, counts)
    else:
        by_client, _ = ledger.records_by_client(as_of)
        achieved, units = _derived(by_client, rulesets, as_of)
        document = forecast(as_of, periods, kind, achieved, units)
    document["from_projection"] = served
    return document


@cycle_collection_paused()
def backtest_document(ledger: Ledger, periods: int) -> dict:
    """§12's check against history: the forecast taken at each recorded run's date E (known on
    E) beside what the runs as of each following period's end paid, net, per provider."""
    runs = recorded_runs(ledger)
    if not runs:
        raise Refused(NO_RUNS, "no payment run is recorded: there is nothing to test against")
    rulesets = ledger.rulesets()
    kind = payment_period(rulesets)
    paid: dict[tuple[date, str], Decimal] = {}
    for run in runs:
        for provider, amount in run.provider_totals.items():
            paid[(run.as_of, provider)] = paid.get((run.as_of, provider), Decimal("0.00")) \
                + Decimal(str(amount))
    by_client, _ = ledger.records_by_client()
    forecasts = []
    for as_of in sorted({run.as_of for run in runs}):
        achieved, units = _derived(by_client, rulesets, as_of)
        forecasts.append(forecast(as_of, periods, kind, achieved, units))
    document = backtest(forecasts, paid, [run.as_of for run in runs])
    sites: dict[str, set[str]] = {}
    for found in forecasts:
        for provider, named in found["provider_sites"].items():
            sites.setdefault(provider, set()).update(named)
    document.update(provider_sites={p: sorted(s) for p, s in sorted(sites.items())},
                    periods=periods, taken=[f["as_of"] for f in forecasts],
                    forecasts=[{"as_of": f["as_of"], "periods": f["periods"]} for f in forecasts],
                    paid=[{"period_end": e, "provider": p, "paid": a}
                          for (e, p), a in sorted(paid.items())])
    return document
