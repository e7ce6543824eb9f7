"""A real browser on the desk: Debian's headless Chromium driven by its chromedriver (Selenium), against
the app served by uvicorn on loopback, on the test's database and a simulated clock the test moves.

Screenshots of what the browser showed are saved under SHOTS (desktop 1280x800, phone 360x780), one
PNG per page and width: artefacts to look at, not compared.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import PASSWORD

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "desk-screenshots"
DESKTOP = (1280, 800)
PHONE = (360, 780)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@dataclass
class Served:
    url: str
    server: uvicorn.Server


@pytest.fixture
def served(app) -> Iterator[Served]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(10)


def _chrome() -> WebDriver:
    if not Path(CHROMIUM).exists() or not Path(DRIVER).exists():
        pytest.fail(
            "the browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def chrome() -> Iterator[Callable[[], WebDriver]]:
    """Browsers to open (one per person); each is quit at the end."""
    opened: list[WebDriver] = []

    def open_one() -> WebDriver:
        opened.append(_chrome())
        return opened[-1]

    yield open_one
    for driver in opened:
        driver.quit()


def wait_for(driver: WebDriver, condition, timeout: float = 10.0):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def wait_text(driver: WebDriver, selector: str, wanted: str, timeout: float = 10.0) -> None:
    """Until the element `selector` finds holds `wanted` (read afresh each time: htmx swaps elements)."""
    script = "var e = document.querySelector(arguments[0]); return e ? e.innerText : '';"
    wait_for(driver, lambda d: wanted in d.execute_script(script, selector), timeout)


def sign_in(driver: WebDriver, base: str, name: str, password: str = PASSWORD) -> None:
    driver.get(f"{base}/signin")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/signin'] button[type=submit]").click()
    wait_for(driver, seen.presence_of_element_located((By.CSS_SELECTOR, "form[action='/signout']")))


def text(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def shoot(driver: WebDriver, name: str) -> list[Path]:
    """The page as it is now, at desktop and at phone width (full height), back to desktop after."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for label, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
        driver.set_window_size(width, height)
        time.sleep(0.15)  # the layout settles at the new width
        tall = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, max(height, min(int(tall) + 40, 4000)))
        time.sleep(0.1)
        path = SHOTS / f"{name}-{label}.png"
        driver.save_screenshot(str(path))
        saved.append(path)
    driver.set_window_size(*DESKTOP)
    return saved
