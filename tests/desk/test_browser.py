"""The desk in headless Chromium: what the operator's staff and a customer's person see and do.

Each test saves screenshots of the pages it passes through (browser.SHOTS)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen

from watchkeeper.cli.common import Context
from watchkeeper.db import transaction
from watchkeeper.feeds.schemas import ServicePatch
from watchkeeper.feeds.service import update_service
from watchkeeper.scheduler import Scheduler
from watchkeeper.wiring import jobs

from .browser import shoot, sign_in, text, wait_for, wait_text
from .conftest import post_usage


def _records(db, clock, service: str, minutes: int = 30) -> None:
    """A supplier's batch of `minutes` minutes up to now; then the service is in production, 5 min its limit."""
    post_usage(db, clock, service, minutes, count=40)
    with transaction(db.sessions) as session:
        patch = ServicePatch(stage="production", settings={"max_silence": "5m"})
        update_service(session=session, name=service, patch=patch, now=clock.now())


def _silence(db, clock, minutes: int) -> None:
    """Time passes with no record: the scheduler's due work runs as `serve` runs it, minute by minute."""
    scheduler = Scheduler(jobs(Context(settings=db.settings, clock=clock)), clock=clock, sessions=db.sessions)
    for _ in range(minutes):
        clock.set(clock.now() + timedelta(minutes=1))
        scheduler.run_due()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_staff_see_a_silent_feed_s_incident_appear_live_and_acknowledge_it_from_the_page(
    db, clock, world, served, chrome
):
    _records(db, clock, "acme-sms")
    ann = chrome()
    sign_in(ann, served.url, "ann")
    wait_text(ann, "#open-incidents", "acme-voice is silent")
    wait_for(ann, lambda d: d.execute_script("return document.documentElement.dataset.live") == "on")
    ann.execute_script("window.notReloaded = true")
    assert "acme-sms" not in text(ann)

    _silence(db, clock, 8)
    wait_text(ann, "#open-incidents", "acme-sms", timeout=5)
    assert ann.execute_script("return window.notReloaded") is True, "the page was reloaded"
    shoot(ann, "now")

    ann.find_element(By.PARTIAL_LINK_TEXT, "acme-sms").click()
    wait_for(ann, seen.presence_of_element_located((By.ID, "incident-live")))
    ann.find_element(By.XPATH, "//button[normalize-space()='Acknowledge']").click()
    wait_text(ann, "#timeline", "acknowledged · ann")
    wait_text(ann, "#incident-live .tag", "acknowledged")
    shoot(ann, "incident")

    for path, name in (
        ("/feeds", "feeds"),
        ("/feeds/acme-sms", "service"),
        ("/desk", "desk"),
        (f"/cases/{world.cases['acme']}", "case"),
        ("/customers", "customers"),
        ("/checks", "checks"),
        ("/oncall", "oncall"),
        ("/status/acme", "status-staff"),
    ):
        ann.get(served.url + path)
        wait_for(ann, seen.presence_of_element_located((By.TAG_NAME, "h1")))
        assert "Not found" not in ann.title and "Something went wrong" not in ann.title, path
        shoot(ann, name)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_customer_sees_only_its_own_status_opens_a_case_and_replies(db, clock, world, served, chrome):
    carol = chrome()
    sign_in(carol, served.url, "carol")
    assert carol.current_url.endswith("/status")
    page = text(carol)
    assert "acme-voice" in page and "globex" not in page
    assert carol.find_elements(By.CSS_SELECTOR, "svg[role=img] rect"), "no uptime bars"
    shoot(carol, "status")

    carol.get(served.url + "/desk")
    carol.find_element(By.ID, "title").send_keys("CDRs from the Frankfurt switch are missing")
    carol.find_element(By.ID, "description").send_keys("Since 09:40 no CDRs of trunk FRA-2.")
    carol.find_element(By.XPATH, "//button[normalize-space()='Open the case']").click()
    wait_for(carol, seen.title_contains("Case #"))
    carol.find_element(By.ID, "reply").send_keys("It affects about a third of our calls.")
    carol.find_element(By.XPATH, "//form[contains(@action, '/reply')]//button").click()
    wait_text(carol, ".timeline", "a third of our calls")
    assert "customer:carol" in text(carol)
    shoot(carol, "case-customer")

    carol.get(served.url + "/desk")
    assert "Frankfurt switch" in text(carol) and "globex calls fail" not in text(carol)

    for guess in (
        "/feeds/globex-voice",
        f"/cases/{world.cases['globex']}",
        f"/incidents/{world.incidents['globex']}",
        "/status/globex",
    ):
        carol.get(served.url + guess)
        assert carol.title.startswith("Not found"), (guess, carol.title)
