"""What each kind of person sees on the desk's pages, and what they are refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from watchkeeper.db import transaction
from watchkeeper.feeds.service import get_service
from watchkeeper.support import service as desk
from watchkeeper.support.models import ContactRole

from .conftest import fire, form_token, post_usage


def test_staff_see_every_open_incident_on_now(world, browser_for):
    page = browser_for("ann").get("/now")
    assert page.status_code == 200
    assert "acme-voice is silent" in page.text and "globex-voice is silent" in page.text
    assert "Acknowledge" in page.text


def test_every_main_page_renders_for_staff(world, browser_for):
    ann = browser_for("ann")
    for path in (
        "/now",
        "/feeds",
        "/feeds?order=last",
        "/feeds/acme-voice",
        "/checks",
        "/oncall",
        "/desk",
        "/desk?done=1",
        "/customers",
        "/status",
        "/status/acme",
        f"/incidents/{world.incidents['acme']}",
        f"/cases/{world.cases['acme']}",
    ):
        answer = ann.get(path)
        assert answer.status_code == 200, (path, answer.text[:2000])


def test_a_customer_sees_its_own_incidents_services_and_cases_only(world, browser_for):
    carol = browser_for("carol")
    for path, mine, theirs in (
        ("/now", "acme-voice is silent", "globex-voice"),
        ("/feeds", "acme-voice", "globex-voice"),
        ("/desk", "acme calls fail", "globex calls fail"),
        ("/status", "acme-voice", "globex"),
    ):
        page = carol.get(path).text
        assert mine in page and theirs not in page, path
    assert "Acknowledge" not in carol.get("/now").text


@pytest.mark.parametrize("guess", ["service", "case", "incident", "status", "timeline", "staff page"])
def test_a_customer_s_url_guess_at_another_customer_gets_404(world, browser_for, guess):
    path = {
        "service": "/feeds/globex-voice",
        "case": f"/cases/{world.cases['globex']}",
        "incident": f"/incidents/{world.incidents['globex']}",
        "status": "/status/globex",
        "timeline": f"/incidents/{world.incidents['globex']}/timeline",
        "staff page": "/customers",
    }[guess]
    carol = browser_for("carol")
    answer = carol.get(path)
    assert answer.status_code == 404
    assert "globex" not in answer.text.lower()
    missing = path.replace("globex", "nobody").replace(f"/{world.cases['globex']}", "/999999")
    missing = missing.replace(f"/{world.incidents['globex']}", "/999999")
    assert answer.text == carol.get(missing).text  # the same as for what does not exist


def test_a_customer_cannot_act_on_its_own_incident(world, browser_for):
    carol = browser_for("carol")
    token = form_token(carol.get("/now").text)
    answer = carol.post(f"/incidents/{world.incidents['acme']}/acknowledge", data={"csrf": token})
    assert answer.status_code == 403
    assert "triggered" in carol.get(f"/incidents/{world.incidents['acme']}").text


def test_a_customer_opens_a_case_and_writes_on_it(world, browser_for):
    carol = browser_for("carol")
    token = form_token(carol.get("/desk").text)
    opened = carol.post(
        "/cases",
        data={
            "csrf": token,
            "title": "Invoices short",
            "description": "March is 3 % short",
            "priority": "p2",
            "customer": "globex",
        },  # a customer's people open cases for their own customer, whatever they send
        follow_redirects=False,
    )
    assert opened.status_code == 303
    case_page = carol.get(opened.headers["location"]).text
    assert "Invoices short" in case_page and "acme" in case_page and "globex" not in case_page
    written = carol.post(opened.headers["location"] + "/reply", data={"csrf": token, "text": "Still short today"})
    assert written.status_code == 200 and "Still short today" in written.text and "customer:carol" in written.text
    assert carol.post(opened.headers["location"] + "/note", data={"csrf": token, "text": "x"}).status_code == 404


def test_a_staff_note_on_a_case_is_not_shown_to_the_customer(world, browser_for):
    ann, carol = browser_for("ann"), browser_for("carol")
    case = f"/cases/{world.cases['acme']}"
    token = form_token(ann.get(case).text)
    ann.post(case + "/note", data={"csrf": token, "text": "their mediation is the suspect"})
    ann.post(case + "/reply", data={"csrf": token, "text": "We are looking into it"})
    assert "their mediation is the suspect" in ann.get(case).text
    seen = carol.get(case).text
    assert "We are looking into it" in seen and "their mediation is the suspect" not in seen


def test_the_desk_shows_the_sla_clock_in_business_time_and_red_past_80_percent(world, browser_for, clock):
    page = browser_for("ann").get("/desk").text
    assert "first response: 4 h left (0 %)" in page and "past80" not in page
    clock.set(clock.now() + timedelta(hours=3, minutes=30))
    page = browser_for("ann").get("/desk").text
    assert "first response: 30 min left (88 %)" in page and "past80" in page
    clock.set(clock.now() + timedelta(hours=1))
    assert "first response breached" in browser_for("ann").get("/desk").text


def test_an_incident_page_takes_a_note_and_shows_it_on_the_timeline(world, browser_for):
    ann = browser_for("ann")
    incident = f"/incidents/{world.incidents['acme']}"
    token = form_token(ann.get(incident).text)
    part = ann.post(
        incident + "/note", data={"csrf": token, "note": "carrier ticket 4711"}, headers={"hx-request": "true"}
    )
    assert part.status_code == 200 and part.text.startswith('<section id="incident-live"')
    assert "carrier ticket 4711" in part.text


def test_resolving_from_now_answers_the_refreshed_list(world, browser_for):
    ann = browser_for("ann")
    token = form_token(ann.get("/now").text)
    part = ann.post(
        f"/incidents/{world.incidents['acme']}/resolve",
        data={"csrf": token, "back": "now"},
        headers={"hx-request": "true"},
    )
    assert part.status_code == 200
    assert f'id="incident-{world.incidents["acme"]}"' not in part.text and "globex-voice is silent" in part.text
    # Its alert still fires: the page says so, and where it went.
    assert re.search(r"alert \d+ still fires \(acme-voice is silent\): raised again in incident \d+", part.text)


def _usage(db, clock, service: str, hours: int) -> None:
    post_usage(db, clock, service, hours * 60, count=5)


def test_the_feeds_page_draws_each_service_s_last_day_and_pages_and_sorts(world, browser_for, db, clock):
    _usage(db, clock, "acme-voice", 3)
    page = browser_for("ann").get("/feeds").text
    row = page[page.index('href="/feeds/acme-voice"') :]
    row = row[: row.index("</tr>")]
    assert "<polyline" in row and "900 in all" in row.replace(",", "")
    names = re.findall(r'<td><a href="/feeds/([^"]+)"', browser_for("ann").get("/feeds?order=last").text)
    assert names[-1] == "acme-voice"  # the longest silent first; the one just heard from last


def test_a_settings_preview_replays_the_last_14_days_before_saving(world, browser_for, db, clock):
    _usage(db, clock, "acme-voice", 6)
    clock.set(clock.now() + timedelta(hours=2))
    ann = browser_for("ann")
    token = form_token(ann.get("/feeds/acme-voice").text)
    form = {"csrf": token, "stage": "production", "sensitivity": "normal", "max_silence": "30m"}
    preview = ann.post("/feeds/acme-voice/preview", data=form).text
    assert "With these settings: 1 alert in 14 days" in preview and "silence" in preview
    with transaction(db.sessions) as session:
        assert get_service(session=session, name="acme-voice").settings.get("max_silence_minutes") is None  # not saved
    saved = ann.post("/feeds/acme-voice/settings", data=form, follow_redirects=False)
    assert saved.status_code == 303
    with transaction(db.sessions) as session:
        assert get_service(session=session, name="acme-voice").settings["max_silence_minutes"] == 30
    bad = ann.post("/feeds/acme-voice/preview", data={**form, "active_hours": "Someday 25-26"}).text
    assert 'class="error"' in bad


def test_the_status_page_draws_a_day_with_an_outage_in_its_colour(world, browser_for, db, clock):
    from watchkeeper.incidents.lifecycle import Action
    from watchkeeper.incidents.service import move_by_hand

    start = clock.now()
    clock.set(start + timedelta(hours=6))
    with transaction(db.sessions) as session:
        move_by_hand(world.incidents["acme"], Action.RESOLVE, actor="ann", session=session, now=clock.now())
    clock.set(start + timedelta(days=2))
    page = browser_for("carol").get("/status").text
    day = start.date().isoformat()
    title = re.search(rf"<title>{day}: ([^<]+)</title>", page)
    assert title and "% up" in title.group(1) and not title.group(1).startswith("100"), page[:3000]
    assert "resolved" in page


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_the_event_stream_tells_an_open_page_of_a_new_incident_within_a_second(world, db, clock, served):
    import time

    import httpx

    from .conftest import sign_in

    with httpx.Client(base_url=served.url, timeout=10) as client:
        sign_in(client, "ann")
        with client.stream("GET", "/events") as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            time.sleep(0.5)  # the poller has read where the timeline stands
            opened = time.monotonic()
            fire(db, clock.now(), "acme-sms", "feeds/acme-sms/silence")
            while not (line := next(lines)).startswith("event:"):
                pass
            took = time.monotonic() - opened
            data = next(lines)
    assert line == "event: change" and data.startswith("data: ") and '"incidents":' in data
    assert took < 1.0, f"{took:.2f} s"


def test_an_incident_page_shows_the_enquiry_asked_about_it(world, browser_for, db, clock):
    from watchkeeper.support import enquiries

    with transaction(db.sessions) as session:
        desk.add_contact(
            session=session,
            customer="acme",
            name="Ops",
            role=ContactRole.TECHNICAL,
            channel="mailto://ops@acme.example",
        )
        enquiries.ask(
            session=session,
            now=clock.now(),
            secret=enquiries.server_secret(session=session),
            base_url="http://desk.test",
            service="acme-voice",
            incident_id=world.incidents["acme"],
            question="Is the silence of acme-voice expected?",
        )
    page = browser_for("ann").get(f"/incidents/{world.incidents['acme']}").text
    assert "Enquiries to the customer" in page and "Is the silence of acme-voice expected?: " in page
    assert "no answer yet" in page


def test_now_s_live_part_is_drawn_anew_once_an_incident_changes(world, browser_for, db, clock):
    ann = browser_for("ann")
    before = ann.get("/now/incidents").text
    assert ann.get("/now/incidents").text == before  # nothing changed: the same part
    fire(db, clock.now(), "acme-sms", "feeds/acme-sms/silence")
    after = ann.get("/now/incidents").text
    assert "acme-sms" in after and "acme-sms" not in before
    assert "acme-sms" not in browser_for("gus").get("/now/incidents").text  # a customer's part is its own


def test_a_case_number_past_any_row_is_refused_not_a_server_error(world, browser_for):
    answer = browser_for("ann").get("/cases/99999999999999999999")
    assert answer.status_code == 422
