"""What each kind of person sees on the desk's pages, and what they are refused."""

from __future__ import annotations


def test_staff_see_every_open_incident_on_now(world, browser_for):
    page = browser_for("ann").get("/now")
    assert page.status_code == 200
    assert "acme-voice is silent" in page.text and "globex-voice is silent" in page.text


def test_every_main_page_renders_for_staff(world, browser_for):
    ann = browser_for("ann")
    for path in (
        "/now",
        "/feeds",
        "/feeds/acme-voice",
        "/checks",
        "/oncall",
        "/desk",
        "/customers",
        "/status/acme",
        f"/incidents/{world.incidents['acme']}",
        f"/cases/{world.cases['acme']}",
    ):
        answer = ann.get(path)
        assert answer.status_code == 200, (path, answer.text[:2000])
