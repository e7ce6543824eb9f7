"""The desk for everyone: its colours pass WCAG AA, and a keyboard alone gets through a task."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

import watchkeeper.web.desk
from watchkeeper.web import charts

from .browser import sign_in, wait_text

CSS = (Path(watchkeeper.web.desk.__file__).parent / "static" / "desk.css").read_text()


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def variable(name: str) -> str:
    found = re.search(rf"--{name}: (#[0-9a-f]{{6}})", CSS)
    assert found, name
    return found.group(1)


@pytest.mark.parametrize("name", ["ink", "muted", "blue", "red", "green", "amber"])
def test_every_text_colour_reads_at_aa_on_the_page_and_on_panels(name):
    for ground in ("#ffffff", variable("panel"), "#ddf4ff", "#ffebe9"):  # page, panel, notice, error
        assert contrast(variable(name), ground) >= 4.5, (name, ground)


def test_the_header_and_filled_buttons_read_at_aa():
    assert contrast("#ffffff", "#24292f") >= 4.5  # the header
    assert contrast("#ffffff", variable("green")) >= 4.5 and contrast("#ffffff", variable("red")) >= 4.5


@pytest.mark.parametrize("colour", [charts.GREEN, charts.AMBER, charts.RED, charts.BLUE])
def test_the_uptime_bars_colours_stand_out_from_the_page(colour):
    assert contrast(colour, "#ffffff") >= 3.0  # graphical objects: 3:1


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_keyboard_alone_acknowledges_an_incident_from_now(db, world, served, chrome):
    ann = chrome()
    sign_in(ann, served.url, "ann")
    body = ann.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    assert ann.switch_to.active_element.text == "Skip to content"
    for _ in range(60):
        ann.switch_to.active_element.send_keys(Keys.TAB)
        focused = ann.switch_to.active_element
        if focused.tag_name == "button" and focused.text == "Acknowledge":
            break
    else:
        pytest.fail("Tab never reached an Acknowledge button")
    outline = ann.execute_script("return getComputedStyle(arguments[0]).outlineStyle", focused)
    assert outline == "solid", "the focused button shows no focus ring"
    focused.send_keys(Keys.ENTER)
    wait_text(ann, "#open-incidents", "by ann")
