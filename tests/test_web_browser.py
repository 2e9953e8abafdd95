"""The web view in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, which .ci/run installs) driven by Selenium against ``pbr serve``'s
application on a real port. A panel member reads an explanation; a provider raises a dispute of
its own run line; the panel notes and resolves it and downloads the statement; a provider fails
to open another provider's client. Screenshots of the main pages go to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from ledger.disputes import read_dispute
from ledger.runs import take_run
from tests.web_support import DIAGNOSED_RECORDS, PASSWORD, build_served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
# An offence after the journey start: the final offending clock resets (the chart has a mark).
OFFENCE = {"type": "proven_offence", "source_id": "pnc-C1-1", "received_on": "2012-10-15",
           "client": "C1", "offence_on": "2012-09-01", "disposal": "caution",
           "disposal_on": "2012-10-01", "trigger_offence": False}

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromium and chromium-driver (.ci/run installs them)")
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch a browser
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# While a form's answer loads, an element found on the old page goes stale: look again.
RELOADING = (StaleElementReferenceException,)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def site(tmp_path):
    from tests import hand_ledger

    yield from _serve(tmp_path, [*hand_ledger.RECORDS, hand_ledger.RETRACTION, OFFENCE])


@pytest.fixture
def diagnosed_site(tmp_path):
    yield from _serve(tmp_path, DIAGNOSED_RECORDS)


def _serve(tmp_path: Path, records: list[dict]):  # noqa: ANN202
    import uvicorn

    served = build_served(f"sqlite:///{tmp_path / 'browser.db'}", tmp_path, records)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(served.app(), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield served, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    served.ledger.close()


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000", "--lang=en-GB"):
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def shoot(driver, name: str) -> None:
    """A screenshot of the whole page: the viewport made as tall as the page first."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1280, "height": min(max(height, 700), 6000), "deviceScaleFactor": 1,
        "mobile": False})
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def sign_in(driver, base: str, name: str) -> None:
    driver.get(f"{base}/signin")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    arrives(driver, "/clients")


def sign_out(driver) -> None:
    driver.find_element(By.CSS_SELECTOR, "form.who button").click()
    arrives(driver, "/signin")


def arrives(driver, path: str) -> None:
    """Wait for the page a form submission leads to."""
    WebDriverWait(driver, 20).until(lambda d: d.current_url.split("?")[0].endswith(path))


def test_a_panel_member_and_providers_use_the_web_view_in_a_real_browser(site, browser):
    served, base = site
    browser.get(f"{base}/signin")
    shoot(browser, "signin")
    sign_in(browser, base, "pat")

    # The panel member finds the client and reads why its outcome stands.
    browser.find_element(By.NAME, "q").send_keys("C")
    browser.find_element(By.CSS_SELECTOR, "main form button").click()
    WebDriverWait(browser, 20).until(lambda d: "q=C" in d.current_url)
    shoot(browser, "clients")
    browser.find_element(By.LINK_TEXT, "C1").click()
    browser.get(browser.current_url + "?as_of=2013-09-30")
    explanation = browser.find_element(By.ID, "J1-offending_initial").text
    assert "No proven offending (initial)" in explanation
    assert "No proven offence dated in the window" in explanation
    assert browser.find_element(By.CSS_SELECTOR, ".chart img").get_attribute("naturalWidth") \
        not in (None, "0")
    shoot(browser, "client")
    sign_out(browser)

    # The provider raises a dispute of its own line of run R0001.
    sign_in(browser, base, "pia")
    browser.get(f"{base}/runs/R0001")
    shoot(browser, "run")
    browser.find_element(By.CSS_SELECTOR, f"a[href='/disputes/new?run=R0001&line="
                                          f"{served.own_line}']").click()
    browser.find_element(By.NAME, "reason").send_keys("The client was in custody then.")
    browser.find_element(By.CSS_SELECTOR, "main form button").click()
    WebDriverWait(browser, 20).until(lambda d: "/disputes/D" in d.current_url)
    dispute_id = browser.current_url.rsplit("/", 1)[1]
    sign_out(browser)

    # The panel member notes and resolves it, then downloads the statement.
    sign_in(browser, base, "pat")
    browser.get(f"{base}/disputes/{dispute_id}")
    browser.find_element(By.NAME, "note").send_keys("Custody record checked.")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/notes'] button").click()
    WebDriverWait(browser, 20, ignored_exceptions=RELOADING).until(
        lambda d: "Custody record checked." in d.find_element(
        By.CSS_SELECTOR, "ol.notes").text if d.find_elements(By.CSS_SELECTOR, "ol.notes")
        else False)
    browser.find_element(By.CSS_SELECTOR, "input[value=upheld]").click()
    browser.find_element(By.NAME, "amount").send_keys("-500.00")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/resolution'] textarea[name=reason]") \
        .send_keys("The offence stands; the payment is taken back.")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/resolution'] button").click()
    WebDriverWait(browser, 20, ignored_exceptions=RELOADING).until(
        lambda d: "Upheld" in d.find_element(By.TAG_NAME, "main").text)
    shoot(browser, "dispute")
    dispute = read_dispute(served.ledger, dispute_id)
    assert (dispute.raised_by, dispute.resolved_by, dispute.resolution) == ("pia", "pat",
                                                                          "upheld")
    browser.get(f"{base}/runs/R0001")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Excel").click()
    statement = browser.downloads / "statement-R0001.xlsx"
    for _ in range(100):
        if statement.exists():
            break
        time.sleep(0.1)
    assert statement.exists() and statement.read_bytes()[:2] == b"PK"
    browser.get(f"{base}/reconciliation")
    shoot(browser, "reconciliation")
    sign_out(browser)

    # A provider cannot open another provider's client.
    sign_in(browser, base, "pia")
    browser.get(f"{base}/clients/C2")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "C2" not in browser.find_element(By.TAG_NAME, "main").text
    shoot(browser, "provider-not-found")


def _charts_drawn(driver) -> int:
    """How many chart images the browser decoded (a blocked or broken one has width 0)."""
    return sum(1 for image in driver.find_elements(By.CSS_SELECTOR, ".charts img")
               if image.get_attribute("naturalWidth") not in (None, "0"))


def test_a_commissioner_checks_the_ledger_compares_rulesets_and_forecasts_in_a_browser(
        site, browser):
    served, base = site
    sign_in(browser, base, "cara")
    browser.find_element(By.LINK_TEXT, "Ledger check").click()
    arrives(browser, "/verify")
    assert "The ledger holds what it held" in browser.find_element(By.TAG_NAME, "main").text
    shoot(browser, "verify")

    # Compare: the published ruleset against a shipped option, chosen in the form.
    browser.get(f"{base}/compare")
    browser.find_element(By.CSS_SELECTOR, "input[name=with][value=option-final-window-6m]") \
        .click()
    browser.execute_script("arguments[0].value = '2013-06-30'",
                           browser.find_element(By.NAME, "as_of"))
    browser.find_element(By.CSS_SELECTOR, "form.stack button").click()
    WebDriverWait(browser, 30).until(lambda d: "with=option-final-window-6m" in d.current_url)
    assert "The rulesets side by side" in browser.find_element(By.TAG_NAME, "main").text
    assert _charts_drawn(browser) >= 6
    shoot(browser, "compare")

    browser.get(f"{base}/forecast?as_of=2013-06-30")
    assert _charts_drawn(browser) >= 1
    shoot(browser, "forecast")
    for as_of in (date(2013, 9, 30), date(2013, 12, 31), date(2014, 3, 31)):
        take_run(served.ledger, as_of, as_of)  # runs after the first forecast: its errors
    browser.get(f"{base}/forecast?backtest=1")
    assert _charts_drawn(browser) >= 1
    assert "1 ahead" in browser.find_element(By.TAG_NAME, "main").text
    shoot(browser, "forecast-backtest")
    sign_out(browser)

    # A provider's forecast holds its own rows only.
    sign_in(browser, base, "pia")
    browser.get(f"{base}/forecast?as_of=2013-06-30")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "P1" in main and "P2" not in main
    shoot(browser, "forecast-provider")

    # A record changed behind the ledger's back: the next check names it in words.
    from sqlalchemy import create_engine

    from tests.reliability.tamper import _flip_byte

    engine = create_engine(served.url)
    with engine.begin() as connection:
        _flip_byte(connection, 7)
    engine.dispose()
    browser.get(f"{base}/verify")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "does NOT hold what it held" in main and "A record was altered" in main
    shoot(browser, "verify-problem")


def _diagnose(driver, quarterly: bool = False) -> None:
    """Fill the diagnostics form (2013-Q1, or its first half quarter by quarter) and send it."""
    for name, value in (("from", "2013-01-01"), ("to", "2013-06-30" if quarterly else
                                                  "2013-03-31"), ("known_on", "2013-06-30")):
        driver.execute_script("arguments[0].value = arguments[1]",
                              driver.find_element(By.NAME, name), value)
    box = driver.find_element(By.NAME, "by_quarter")
    if box.is_selected() != quarterly:
        box.click()
    driver.find_element(By.CSS_SELECTOR, "main form button").click()
    WebDriverWait(driver, 30).until(lambda d: "from=2013-01-01" in d.current_url and d.
                                    execute_script("return document.readyState") == "complete")


def test_a_commissioner_and_a_provider_read_the_diagnostics_in_a_browser(diagnosed_site,
                                                                        browser):
    served, base = diagnosed_site
    sign_in(browser, base, "cara")
    browser.find_element(By.LINK_TEXT, "Diagnostics").click()
    arrives(browser, "/diagnostics")
    _diagnose(browser)
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "Adverse outcome\nclients may be faring worse" in main
    assert "clients who dropped out, as a share of discharges: 100.00%" in main
    assert "P2 at site S3" in main and "All sites" in main
    assert _charts_drawn(browser) == 3
    shoot(browser, "diagnostics")
    browser.get(f"{base}/diagnostics")
    _diagnose(browser, quarterly=True)
    assert "Concerns per provider, quarter by quarter" in \
        browser.find_element(By.TAG_NAME, "main").text
    # Each site's flags by quarter; completions by quarter only for S3, whose providers had 30
    # discharges in a quarter (S1 and S2 never had: no empty chart is drawn for them).
    assert _charts_drawn(browser) == 4
    shoot(browser, "diagnostics-quarters")
    sign_out(browser)

    # A provider reads its own groups and flags, and nothing of the other providers.
    sign_in(browser, base, "pia")
    browser.find_element(By.LINK_TEXT, "Diagnostics").click()
    arrives(browser, "/diagnostics")
    _diagnose(browser)
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "P1 at site S3" in main and "far below the other providers of its site" in main
    assert "P2" not in main and "P3" not in main and "All sites" not in main
    shoot(browser, "diagnostics-provider")
    browser.get(f"{base}/diagnostics?as_of=2013-03-31&provider=P2")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
