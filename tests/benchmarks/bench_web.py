"""The web view's speed, through the framework's test client (the whole request: session check,
services, template, access log): ``page_client_ms_p50`` — a client's page, the same derivation
as ``pbr explain`` — and ``page_run_ms_p50`` — a run's first page of lines with its totals.
``page_clock_chart_ms_p50`` is the clock chart the client's page loads beside it (matplotlib).

Called by bench.py on its ledger, of whatever size `--clients` gave it (30,000 by default):
nothing here depends on the size; the sampled clients are the 100 the explanation sample starts
with.
"""

from __future__ import annotations

import statistics
import time
from datetime import date
from typing import Any

from ledger.store import Ledger
from ledger.users import add_user, get_user

USER, PASSWORD = "bench-commissioner", "a password for the benchmark"
RUN_PAGE_SAMPLES = 30


def _timed(client: Any, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
    return elapsed


def web_pages(ledger: Ledger, clients: list[str], run_id: str, as_of: date) -> dict[str, Any]:
    """Median milliseconds per page, signed in as a commissioner (who sees every line)."""
    import re

    from fastapi.testclient import TestClient

    from web.app import create_app

    if get_user(ledger, USER) is None:
        add_user(ledger, USER, "commissioner", PASSWORD)
    client = TestClient(create_app(ledger, secret="bench", today=lambda: as_of))
    form = client.get("/signin").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    client.post("/signin", data={"csrf": token, "name": USER, "password": PASSWORD})
    dates = f"as_of={as_of}&known_on={as_of}"
    _timed(client, f"/clients/{clients[0]}?{dates}")  # the first request warms the templates
    pages = [_timed(client, f"/clients/{c}?{dates}") for c in clients]
    charts = []
    for c in clients[:30]:
        page = client.get(f"/clients/{c}?{dates}").text
        found = re.search(r'src="(/clients/[^"]+\.svg[^"]*)"', page)
        if found:
            charts.append(_timed(client, found.group(1).replace("&amp;", "&")))
    runs = [_timed(client, f"/runs/{run_id}") for _ in range(RUN_PAGE_SAMPLES)]
    return {"page_client_ms_p50": round(statistics.median(pages), 2),
            "page_run_ms_p50": round(statistics.median(runs), 2),
            "page_clock_chart_ms_p50": round(statistics.median(charts), 2) if charts else None,
            "page_client_samples": len(pages)}
