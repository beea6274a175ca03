"""The upload page in a real browser (Debian's headless Chromium, driven by Selenium): a buyer
picks the receipt, taps the button, and is told it arrived. No script, no build step: what a
cheap phone's browser gets."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from bot.platform import db
from bot.platform.models import Receipt
from tests.connectors.conftest import SAMPLE, a_link

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    """Debian's Chromium and driver, named outright: Selenium downloads nothing."""
    monkeypatch.setenv("SE_OFFLINE", "true")
    if not (CHROMIUM and DRIVER):
        pytest.fail("chromium and chromium-driver are missing: run `make test` (it installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_buyer_uploads_a_receipt_with_the_page(server: str, browser, tmp_path: Path) -> None:
    url, order_id = a_link()
    picture = tmp_path / "receipt.jpg"
    picture.write_bytes(SAMPLE.content)
    browser.get(url)
    assert order_id in browser.find_element(By.TAG_NAME, "body").text
    browser.find_element(By.ID, "file").send_keys(str(picture))
    browser.find_element(By.TAG_NAME, "button").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Receipt received"
    assert f"receipt for order {order_id} has arrived" in browser.page_source
    with db.session_scope() as session:
        receipt = session.execute(sa.select(Receipt)).scalar_one()
        assert (receipt.order_id, receipt.sha256 is not None) == (order_id, True)
