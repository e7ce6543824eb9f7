"""Signing in and out of the desk, and what a hostile browser or a guesser gets."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from watchkeeper.auth import signin
from watchkeeper.auth.models import User
from watchkeeper.db import transaction
from watchkeeper.notify.models import Notification

from .conftest import PASSWORD, form_token, sign_in


def test_a_right_password_signs_in_with_a_session_cookie_that_scripts_cannot_read(world, app):
    client = TestClient(app, base_url="http://desk.test")
    answer = sign_in(client, "ann")
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("wk_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here; over HTTPS it is Secure (next test)
    assert "Open incidents" in client.get("/now").text


def test_the_session_cookie_is_secure_when_the_desk_is_served_over_https(world, app):
    client = TestClient(app, base_url="https://desk.test")
    cookie = next(c for c in sign_in(client, "ann").headers.get_list("set-cookie") if c.startswith("wk_session="))
    assert "Secure" in cookie


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(world, app):
    client = TestClient(app)
    wrong = sign_in(client, "ann", "not the password")
    nobody = sign_in(client, "nobody-at-all", "not the password")
    assert wrong.status_code == nobody.status_code == 401
    assert "Wrong name or password." in wrong.text and "Wrong name or password." in nobody.text
    assert "wk_session" not in wrong.headers.get("set-cookie", "")


def test_an_unknown_name_costs_as_long_as_a_wrong_password(world, app):
    """Both check an argon2 hash, so the time does not tell which names exist."""
    client = TestClient(app)

    def took(name: str) -> float:
        start = time.perf_counter()
        for _ in range(5):
            sign_in(client, name, "not the password")
        return time.perf_counter() - start

    known, unknown = took("ann"), took("nobody-at-all")
    assert 0.5 < known / unknown < 2.0, (known, unknown)


def test_a_page_asked_for_without_a_session_sends_the_browser_to_sign_in_and_back(world, app):
    client = TestClient(app)
    answer = client.get("/feeds/acme-voice?order=name", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=/feeds/acme-voice?order=name"
    page = client.get("/signin?next=/feeds/acme-voice")
    signed = client.post(
        "/signin",
        data={"name": "ann", "password": PASSWORD, "form": form_token(page.text), "next": "/feeds/acme-voice"},
        follow_redirects=False,
    )
    assert signed.headers["location"] == "/feeds/acme-voice"


def test_a_sign_in_never_sends_the_browser_to_another_site(world, app):
    client = TestClient(app)
    page = client.get("/signin")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        signed = client.post(
            "/signin",
            data={"name": "ann", "password": PASSWORD, "form": form_token(page.text), "next": target},
            follow_redirects=False,
        )
        assert signed.headers["location"] == "/", target


def test_a_form_posted_without_the_form_token_is_refused(world, browser_for):
    ann = browser_for("ann")
    incident = world.incidents["acme"]
    refused = ann.post(f"/incidents/{incident}/acknowledge", data={})
    assert refused.status_code == 403 and "form token" in refused.text
    forged = ann.post(f"/incidents/{incident}/acknowledge", data={"csrf": "0" * 40})
    assert forged.status_code == 403
    assert "triggered" in ann.get(f"/incidents/{incident}").text  # nothing was acknowledged
    token = form_token(ann.get("/now").text)
    done = ann.post(f"/incidents/{incident}/acknowledge", data={"csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    assert "<strong>acknowledged</strong> · ann" in ann.get(f"/incidents/{incident}").text


def test_a_sign_in_form_without_its_token_is_refused(world, app):
    client = TestClient(app)
    answer = client.post(
        "/signin", data={"name": "ann", "password": PASSWORD, "form": "forged"}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert "wk_session" not in answer.headers.get("set-cookie", "")


def test_a_session_cookie_is_refused_after_sign_out(world, browser_for, app):
    ann = browser_for("ann")
    cookie = ann.cookies.get("wk_session")
    token = form_token(ann.get("/now").text)
    assert ann.post("/signout", data={"csrf": token}, follow_redirects=False).status_code == 303
    stolen = TestClient(app, base_url="http://desk.test", cookies={"wk_session": cookie})
    answer = stolen.get("/now", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")


def test_a_session_ends_after_its_idle_time(world, browser_for, clock):
    ann = browser_for("ann")
    clock.set(clock.now() + signin.IDLE - timedelta(minutes=1))
    assert ann.get("/now", follow_redirects=False).status_code == 200  # used: its idle time starts again
    clock.set(clock.now() + signin.IDLE - timedelta(minutes=1))
    assert ann.get("/now", follow_redirects=False).status_code == 200
    clock.set(clock.now() + signin.IDLE + timedelta(minutes=1))
    assert ann.get("/now", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # the throttle is in memory, whatever the database
def test_ten_thousand_wrong_passwords_for_one_name_are_throttled(world, app, clock):
    client = TestClient(app)
    form = form_token(client.get("/signin").text)
    cookies = dict(client.cookies)

    async def guesses() -> Counter[int]:
        # Straight to the app (no test client's thread hand-offs): ten thousand posts in seconds.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://desk.test") as fast:
            fast.cookies.update(cookies)
            codes: Counter[int] = Counter()
            for n in range(10_000):
                answer = await fast.post("/signin", data={"name": "ann", "password": f"guess {n}", "form": form})
                codes[answer.status_code] += 1
            return codes

    start = time.perf_counter()
    codes = asyncio.run(guesses())
    took = time.perf_counter() - start
    assert codes[401] <= 20, codes  # at most the address's and the name's limits were checked
    assert codes[429] >= 9_980, codes
    assert took < 120, f"{took:.0f} s: a refused guess must cost no password hash"
    page = client.post("/signin", data={"name": "ann", "password": PASSWORD, "form": form})
    assert page.status_code == 429 and "try again in" in page.text  # the right one waits too
    clock.set(clock.now() + timedelta(minutes=16))
    assert sign_in(client, "ann").status_code == 303


def test_wrong_passwords_for_one_name_from_many_addresses_are_throttled_by_the_name(world, app):
    from watchkeeper.web.desk.signin_pages import NAME_FAILURES

    answers = []
    for n in range(NAME_FAILURES + 2):
        client = TestClient(app, client=(f"10.0.0.{n + 1}", 40000))  # a botnet: one guess per address
        answers.append(sign_in(client, "ann", f"guess {n}").status_code)
    assert answers == [401] * NAME_FAILURES + [429, 429]
    other = TestClient(app, client=("10.0.1.1", 40000))
    assert sign_in(other, "carol").status_code == 303  # another name is not held up


def test_a_sign_in_link_is_mailed_through_the_outbox_and_works_once(world, app, db, clock):
    client = TestClient(app)
    page = client.get("/signin")
    answer = client.post("/signin/link", data={"name": "carol", "form": form_token(page.text)})
    same = client.post("/signin/link", data={"name": "nobody-at-all", "form": form_token(page.text)})
    assert answer.status_code == same.status_code == 200
    assert "a sign-in link is on its way" in answer.text and "a sign-in link is on its way" in same.text
    with transaction(db.sessions) as session:
        (mail,) = session.scalars(select(Notification).where(Notification.subject == "signin")).all()
        body, recipient = mail.body, mail.recipient
    assert recipient == "carol"
    link = body.split("/signin/link/")[1].split()[0]
    confirm = client.get(f"/signin/link/{link}")
    assert confirm.status_code == 200 and "works once" in confirm.text  # a mail scanner's GET signs nobody in
    assert "wk_session" not in client.cookies
    used = client.post(f"/signin/link/{link}", data={"form": form_token(confirm.text)}, follow_redirects=False)
    assert used.status_code == 303 and "wk_session" in used.headers["set-cookie"]
    again = TestClient(app)
    confirm = again.get(f"/signin/link/{link}")
    assert confirm.status_code == 404 and "used or out of date" in confirm.text


def test_a_sign_in_link_expires(world, app, db, clock):
    client = TestClient(app)
    page = client.get("/signin")
    client.post("/signin/link", data={"name": "carol", "form": form_token(page.text)})
    with transaction(db.sessions) as session:
        body = session.scalars(select(Notification.body).where(Notification.subject == "signin")).one()
    link = body.split("/signin/link/")[1].split()[0]
    clock.set(clock.now() + timedelta(minutes=signin.LINK_MINUTES + 1))
    assert client.get(f"/signin/link/{link}").status_code == 404


def test_users_password_sets_a_password_that_signs_in_and_ends_other_sessions(world, app, db, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from watchkeeper.cli import app as cli
    from watchkeeper.config import get_settings

    ann = TestClient(app, base_url="http://desk.test")
    sign_in(ann, "ann")
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", db.url)
    monkeypatch.setenv("WATCHKEEPER_KEY_FILE", str(tmp_path / "watchkeeper.key"))
    get_settings.cache_clear()
    try:
        short = CliRunner().invoke(cli, ["users", "password", "ann", "--stdin"], input="short\n")
        done = CliRunner().invoke(cli, ["users", "password", "ann"], input="a new long password\na new long password\n")
    finally:
        get_settings.cache_clear()
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    assert done.exit_code == 0, done.output
    assert "ann's password is set" in done.output
    with transaction(db.sessions) as session:
        stored = session.scalars(select(User.password_hash).where(User.name == "ann")).one()
    assert stored.startswith("$argon2id$")
    assert ann.get("/now", follow_redirects=False).status_code == 303  # the old session ended
    assert sign_in(TestClient(app), "ann", "a new long password").status_code == 303
