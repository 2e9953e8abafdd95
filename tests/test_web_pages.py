"""What the web view's pages show and record: explanations in words, struck-through
retractions, a provider's own lines and statements only, disputes naming the signed-in user, the
access log, and the session's cookie, lifetime and sign-in limit."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from ledger.access import read_access_log
from ledger.disputes import read_dispute
from ledger.users import remove_user
from tests.cli_runner import pbr
from tests.web_support import Served, build_served, csrf_of, session_csrf, signed_in
from web.security import SignInLimiter


@pytest.fixture
def served(db_url, tmp_path) -> Served:
    built = build_served(db_url, tmp_path)
    yield built
    built.ledger.close()


def test_a_panel_member_reads_each_outcome_in_words_with_its_records_and_run_lines(served):
    panel = signed_in(served.app(), "pat")
    page = panel.get("/clients/C1?as_of=2013-06-30").text
    assert "No proven offending (initial)" in page
    assert "Achieved: earns its payment" in page
    assert "No proven offence dated in the window" in page  # the explanation, in words
    assert "reason code <code>no_offence_in_window</code>" in page  # the code, beside them
    assert re.search(r'<a href="/runs/R0001">R0001</a>.*?£500\.00', page, re.S)
    assert "/clients/C1/clocks/J1/offending_final.svg" in page


def test_a_retracted_record_is_struck_through_beside_the_correction_that_withdrew_it(served):
    page = signed_in(served.app(), "pat").get("/clients/C4?as_of=2013-09-30").text
    assert re.search(r"<del>Review \(TOP\) recorded</del><br><span class=\"correction\">"
                     r"withdrawn by correction fix-C4-review \(received 2013-08-01\)", page)
    earlier = signed_in(served.app(), "pat").get("/clients/C4?as_of=2013-06-30").text
    assert "<del>" not in earlier  # the correction was not yet known


def test_the_offending_clock_is_drawn_as_an_svg_with_its_start_and_target(served):
    chart = signed_in(served.app(), "pat").get(
        "/clients/C1/clocks/J1/offending_final.svg?as_of=2013-06-30")
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert 'xmlns="http://www.w3.org/2000/svg"' in chart.text
    assert "1. journey start 2012-01-10" in chart.text and "target 2013-01-10" in chart.text


def test_a_provider_searching_finds_only_clients_of_its_own_journeys(served):
    page = signed_in(served.app(), "pia").get("/clients?q=C").text
    found = re.findall(r'<a href="/clients/(C\d)">', page)
    assert found == ["C1", "C4", "C5", "C6"]
    everyone = signed_in(served.app(), "pat").get("/clients?q=C").text
    assert re.findall(r'<a href="/clients/(C\d)">', everyone) == ["C1", "C2", "C4", "C5", "C6"]


def test_a_provider_sees_only_its_own_lines_and_totals_in_a_run(served):
    page = signed_in(served.app(), "pia").get("/runs/R0001").text
    rows = re.findall(r"<tr class=\"kind-\w+\">(.*?)</tr>", page, re.S)
    assert rows and all("<td>P1</td>" in row for row in rows)
    assert "P2" not in page


def test_a_providers_statement_holds_only_its_lines_and_its_own_total(served):
    provider = signed_in(served.app(), "pia")
    workbook = load_workbook(io.BytesIO(provider.get("/runs/R0001/statement.xlsx").content))
    lines = list(workbook["Lines"].iter_rows(values_only=True))
    providers = {row[lines[0].index("provider")] for row in lines[1:]}
    assert providers == {"P1"}
    totals = list(workbook["Totals"].iter_rows(values_only=True))[1:]
    assert {(level, name) for level, name, _ in totals} >= {("provider", "P1"), ("all", None)}
    assert all(name != "P2" for _, name, _ in totals)
    archive = zipfile.ZipFile(io.BytesIO(provider.get("/runs/R0001/statement.zip").content))
    assert sorted(Path(n).name for n in archive.namelist()) == ["inputs.csv", "lines.csv",
                                                                "totals.csv"]


def test_a_run_page_and_a_providers_statement_print_the_head_the_run_rests_on(served):
    provider = signed_in(served.app(), "pia")
    page = provider.get("/runs/R0001").text
    found = re.search(r"pbr verify --at (\d+) --head ([0-9a-f]{64})", page)
    assert found, "the run page shows no chain head"
    assert pbr("verify", "--at", found[1], "--head", found[2], "--db", served.url
               ).exit_code == 0
    workbook = load_workbook(io.BytesIO(provider.get("/runs/R0001/statement.xlsx").content))
    inputs = {row[0]: row[1] for row in workbook["Inputs"].iter_rows(values_only=True)}
    assert str(inputs["chain_position"]) == found[1] and inputs["chain_hash"] == found[2]


def test_a_dispute_raised_noted_and_resolved_in_the_browser_names_each_signed_in_user(served):
    app = served.app()
    provider, panel = signed_in(app, "pia"), signed_in(app, "pat")
    form = provider.get(f"/disputes/new?run=R0001&line={served.own_line}")
    raised = provider.post("/disputes", data={"csrf": csrf_of(form.text), "run": "R0001",
                                              "line": str(served.own_line),
                                              "reason": "the client was in custody"})
    assert raised.status_code == 303
    dispute_id = raised.headers["location"].rsplit("/", 1)[1]
    panel.post(f"/disputes/{dispute_id}/notes", data={
        "csrf": session_csrf(panel), "note": "asked the police for the record",
        "evidence": "PNC-123\nletter of 2014-01-02"})
    resolved = panel.post(f"/disputes/{dispute_id}/resolution", data={
        "csrf": session_csrf(panel), "resolution": "upheld", "amount": "-500.00",
        "reason": "the offence is proven"})
    assert resolved.status_code == 303
    dispute = read_dispute(served.ledger, dispute_id)
    assert (dispute.raised_by, dispute.notes[0]["by"], dispute.resolved_by) == ("pia", "pat",
                                                                               "pat")
    assert dispute.notes[0]["evidence"] == ["PNC-123", "letter of 2014-01-02"]
    assert str(dispute.amount) == "-500.00"


def test_a_refused_dispute_action_shows_the_services_words_and_records_nothing(served):
    panel = signed_in(served.app(), "pat")
    refused = panel.post("/disputes/D0002/resolution", data={
        "csrf": session_csrf(panel), "resolution": "upheld", "amount": "0.001", "reason": "x"})
    assert refused.status_code == 400 and "not in whole pence" in refused.text
    assert "not_whole_pence" in refused.text
    assert read_dispute(served.ledger, "D0002").resolution is None


def test_every_page_and_download_that_shows_a_client_is_in_the_access_log(served):
    panel = signed_in(served.app(), "pat")
    panel.get("/clients/C2?as_of=2013-06-30")
    panel.get("/runs/R0001/statement.xlsx")
    panel.get("/disputes/D0001")
    panel.get("/runs")  # shows no client
    log = read_access_log(served.ledger, user="pat")
    assert [(e.client, e.what) for e in log if e.client == "C2"] == [
        ("C2", "client page"), ("C2", "statement R0001 xlsx"), ("C2", "dispute D0001")]
    assert {e.what for e in log} == {"client page", "statement R0001 xlsx", "dispute D0001"}
    shown = pbr("access-log", "--client", "C2", "--user", "pat", "--db", served.url, "--json")
    assert [a["what"] for a in shown.json()["accesses"]] == [
        "client page", "statement R0001 xlsx", "dispute D0001"]
    assert pbr("access-log", "--user", "nobody", "--db", served.url).stdout.strip() == \
        "no accesses recorded"


def test_a_provider_refused_another_providers_client_leaves_no_access_of_it(served):
    signed_in(served.app(), "pia").get("/clients/C2")
    assert read_access_log(served.ledger, client="C2") == []


def test_the_session_cookie_is_signed_http_only_strict_and_expires(served):
    client = TestClient(served.app(session_seconds=3600), follow_redirects=False)
    page = client.get("/signin")
    response = client.post("/signin", data={"csrf": csrf_of(page.text), "name": "pat",
                                            "password": "correct horse battery"})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Max-Age=3600" in cookie
    client.cookies.set("pbr_session", client.cookies["pbr_session"][:-2] + "xx")
    assert client.get("/clients").headers["location"] == "/signin"


def test_a_session_older_than_its_lifetime_signs_in_again(served, monkeypatch):
    import itsdangerous.timed

    app = served.app(session_seconds=60)
    client = signed_in(app, "pat")
    assert client.get("/clients").status_code == 200
    later = itsdangerous.timed.time.time() + 61
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    assert client.get("/clients").headers["location"] == "/signin"


def test_a_removed_user_is_signed_out_at_the_next_request(served):
    client = signed_in(served.app(), "pat")
    remove_user(served.ledger, "pat")
    assert client.get("/clients").headers["location"] == "/signin"


def test_sign_in_is_refused_after_five_failures_until_the_window_passes(served):
    now = [1000.0]
    app = served.app(limiter=SignInLimiter(attempts=5, window_seconds=900,
                                           clock=lambda: now[0]))
    client = TestClient(app, follow_redirects=False)

    def attempt(password: str) -> int:
        page = client.get("/signin")
        return client.post("/signin", data={"csrf": csrf_of(page.text), "name": "pat",
                                            "password": password}).status_code

    assert [attempt("wrong") for _ in range(5)] == [401] * 5
    assert attempt("correct horse battery") == 429  # even the right password, for now
    now[0] += 901
    assert attempt("correct horse battery") == 303


def test_a_sign_in_form_without_its_token_is_refused(served):
    client = TestClient(served.app(), follow_redirects=False)
    response = client.post("/signin", data={"name": "pat", "password": "correct horse battery"})
    assert response.status_code == 403 and "pbr_session" not in response.headers.get(
        "set-cookie", "")


def test_an_auditor_is_offered_no_form_that_changes_anything(served):
    auditor = signed_in(served.app(), "audrey")
    pages = [auditor.get(path).text for path in (
        "/runs", "/runs/R0001", "/disputes/D0002", "/reconciliation",
        "/clients/C1?as_of=2013-06-30")]
    for page in pages:
        forms = re.findall(r'<form[^>]*method="post"[^>]*>', page)
        assert forms == ['<form class="who" method="post" action="/signout">']


def test_the_web_package_never_reaches_the_database_itself():
    web = Path(__file__).resolve().parents[1] / "web"
    for source in web.rglob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(from|import)\s+(sqlalchemy|psycopg|sqlite3)", text, re.M), \
            source


def test_every_asset_is_served_locally(served):
    page = signed_in(served.app(), "pat").get("/clients/C1?as_of=2013-06-30").text
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_remembered_runs_give_the_same_lines_and_see_runs_recorded_afterwards(served):
    from datetime import date

    from ledger.runs import entitlement_runs, recorded_runs, remember_runs, take_run
    from ledger.store import Ledger

    remember_runs(served.ledger)
    fresh = Ledger(served.url)
    try:
        assert entitlement_runs(served.ledger, "C4") == entitlement_runs(fresh, "C4")
        take_run(fresh, date(2013, 9, 30), date(2013, 9, 30))  # C4's housing is clawed back
        assert [r.run_id for r in recorded_runs(served.ledger)] == ["R0001", "R0002"]
        kinds = [line["kind"] for line in entitlement_runs(served.ledger, "C4")
                 if line["outcome"] == "housing"]
        assert kinds == ["payment", "clawback"]
        assert entitlement_runs(served.ledger, "C4") == entitlement_runs(fresh, "C4")
    finally:
        fresh.close()


def test_a_run_taken_on_the_runs_page_is_recorded_and_shown(served):
    finance = signed_in(served.app(), "fin")
    taken = finance.post("/runs", data={"csrf": session_csrf(finance), "as_of": "2013-09-30"})
    assert taken.status_code == 303 and taken.headers["location"] == "/runs/R0002"
    assert "Payment run R0002" in finance.get("/runs/R0002").text
    again = finance.post("/runs", data={"csrf": session_csrf(finance), "as_of": "2013-06-30"})
    assert again.status_code == 400 and "as_of_before_last_run" in again.text


def test_what_users_type_is_shown_as_text_never_as_markup(served):
    provider = signed_in(served.app(), "pia")
    raised = provider.post("/disputes", data={
        "csrf": session_csrf(provider), "client": "C1", "outcome": "offending_initial",
        "reason": "<script>alert('x')</script>"})
    page = provider.get(raised.headers["location"]).text
    assert "<script>" not in page and "&lt;script&gt;" in page
    searched = provider.get("/clients", params={"q": "<b>C1"}).text
    assert "<b>C1" not in searched and "&lt;b&gt;C1" in searched


def test_pbr_serve_serves_the_sign_in_page_on_the_port_it_is_given(served, tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--db", served.url,
                               "--port", str(port)], stderr=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/signin") as page:
                    body = page.read().decode()
                    cookie = page.headers["set-cookie"]
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("pbr serve did not answer")
        assert "<h1>Sign in</h1>" in body and "HttpOnly" in cookie
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_pbr_serve_refuses_a_ledger_that_does_not_exist(tmp_path):
    missing = tmp_path / "none.db"
    result = pbr("serve", "--db", f"sqlite:///{missing}")
    assert result.exit_code == 2 and "no ledger" in result.stderr and not missing.exists()


def test_a_provider_lists_only_its_own_disputes_and_reconciliation_rows(served):
    provider = signed_in(served.app(), "pia")
    disputes = provider.get("/disputes").text
    assert "/disputes/D0002" in disputes and "/disputes/D0001" not in disputes
    rows = re.findall(r"<td>(P\d)</td>", provider.get("/reconciliation").text)
    assert rows == ["P1"]
    everyone = re.findall(r"<td>(P\d)</td>", signed_in(served.app(), "audrey")
                          .get("/reconciliation").text)
    assert everyone == ["P1", "P2"]
