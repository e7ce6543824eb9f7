"""What someone who reads the database learns: no key that signs a link, no channel password, no live link.

On SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from watchkeeper.auth import users
from watchkeeper.db import _alembic_config, make_engine, server_key, transaction, upgrade
from watchkeeper.feeds.models import Service
from watchkeeper.keys import UNREADABLE, ServerKey, default_key_file
from watchkeeper.notify.outbox import deliver_due
from watchkeeper.support import enquiries
from watchkeeper.support import service as desk
from watchkeeper.support.links import Answer, InvalidLink, sign
from watchkeeper.support.models import Contact

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PASSWORD = "hunter2-Secret"
CHANNEL = f"mailto://bob:{PASSWORD}@mail.acme.example?to=bob@acme.example"


def _customer_with_contact(session):
    desk.add_plan(session=session, now=NOW, name="24x7", hours="Mon-Sun 00:00-24:00")
    session.add(
        Service(
            name="acme-cdr", stage="production", first_seen=NOW, last_seen=NOW, last_received_at=NOW, created_at=NOW
        )
    )
    session.flush()
    desk.add_customer(session=session, now=NOW, name="Acme", plan="24x7", service_pattern="acme-.*")
    desk.add_contact(session=session, customer="Acme", name="Bob", role=desk.ContactRole.TECHNICAL, channel=CHANNEL)
    users.add_user(session=session, now=NOW, name="anna", role="engineer", channels=[CHANNEL])


def _ask(db):
    with transaction(db.sessions) as session:
        return enquiries.ask(
            session=session,
            now=NOW,
            secret=enquiries.server_secret(session=session),
            base_url="https://desk.example",
            service="acme-cdr",
        )


def _dump(db) -> str:
    """Every stored value of the tables that hold channels, messages and keys, as a reader of the database sees it."""
    with db.engine.connect() as connection:
        tables = ("contacts", "users", "notifications", "server_secrets")
        return "\n".join(str(tuple(row)) for t in tables for row in connection.execute(text(f"SELECT * FROM {t}")))


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, url: str, title: str, body: str) -> None:
        self.sent.append((url, body))


def test_the_database_holds_no_password_no_live_link_and_no_signing_key(db):
    with transaction(db.sessions) as session:
        _customer_with_contact(session)
    asked = _ask(db)
    stored = _dump(db)
    assert PASSWORD not in stored and "bob@acme.example" not in stored
    assert "token=" not in stored and asked.links[Answer.EXPECTED].split("token=")[1] not in stored
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM server_secrets")).scalar() == 0
    # What is sealed is read back whole where it is used: the message goes to the real URL with its links.
    recorder = Recorder()
    assert deliver_due(db.sessions, sender=recorder, now=lambda: NOW) == 1
    ((url, body),) = recorder.sent
    assert url == CHANNEL and asked.links[Answer.EXPECTED] in body


def test_the_key_file_is_made_once_readable_by_its_owner_only(db, tmp_path):
    path = tmp_path / "watchkeeper.key"  # where the db fixture keeps it
    assert not path.exists()
    with transaction(db.sessions) as session:
        _customer_with_contact(session)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = path.read_text()
    with transaction(db.sessions) as session:
        secret = enquiries.server_secret(session=session)
    assert path.read_text() == key and key.strip().encode() not in secret
    again = make_engine(db.url, key_file=str(path))
    try:
        with again.connect() as connection:
            assert connection.execute(select(Contact.channel)).scalar() == CHANNEL
    finally:
        again.dispose()


def test_the_key_file_is_kept_beside_the_sqlite_database_and_never_in_it():
    assert default_key_file("sqlite:////var/lib/wk/watchkeeper.db") == Path("/var/lib/wk/watchkeeper.key")
    assert default_key_file("postgresql+psycopg://wk@db/wk") == Path.cwd() / "watchkeeper.key"


def test_a_channel_sealed_under_another_key_reads_as_unreadable_not_as_an_error():
    sealed = ServerKey(lambda: b"one-key-of-sixteen-or-more").seal(CHANNEL)
    assert PASSWORD not in sealed
    assert ServerKey(lambda: b"another-key-of-sixteen-or-more").unseal(sealed) == UNREADABLE


def test_users_channels_are_listed_with_the_password_masked(db):
    with transaction(db.sessions) as session:
        _customer_with_contact(session)
        view = users.user_view(users.get_user("anna", session=session), session=session)
    assert view["channels"] == ["mailto://bob:****@mail.acme.example?to=bob@acme.example"]


def test_a_link_is_refused_once_its_enquiry_expired_whatever_expiry_the_link_carries(db):
    with transaction(db.sessions) as session:
        _customer_with_contact(session)
    asked = _ask(db)
    with transaction(db.sessions) as session:
        secret = enquiries.server_secret(session=session)
    # Signed by whoever has the key, valid for a year by its own word; the enquiry itself lasts 72 hours.
    long_lived = sign(secret, asked.enquiry.id, Answer.NOT_EXPECTED, NOW + timedelta(days=365))
    with transaction(db.sessions) as session:
        assert enquiries.preview(session=session, now=NOW, secret=secret, token=long_lived)[1] is Answer.NOT_EXPECTED
    with transaction(db.sessions) as session, pytest.raises(InvalidLink):
        enquiries.preview(session=session, now=NOW + timedelta(hours=72), secret=secret, token=long_lived)


def test_links_sent_before_the_upgrade_work_until_their_enquiry_expires_and_the_old_key_signs_no_new_ones(db):
    with transaction(db.sessions) as session:
        _customer_with_contact(session)
    before = _ask(db)
    # The database as 0013 left it: channels in clear, the link key in clear in server_secrets.
    command.downgrade(_alembic_config(db.engine), "0013")
    assert PASSWORD in _dump(db)
    old_key = "the-key-0013-kept-in-the-database"
    with db.engine.begin() as connection:
        connection.execute(text(f"INSERT INTO server_secrets (name, value) VALUES ('links', '{old_key}')"))
    sent = sign(old_key.encode(), before.enquiry.id, Answer.EXPECTED, before.enquiry.expires_at)
    upgrade(db.engine)
    stored = _dump(db)
    assert old_key not in stored and PASSWORD not in stored
    later = _ask(db)
    forged = sign(old_key.encode(), later.enquiry.id, Answer.NOT_EXPECTED, NOW + timedelta(days=365))
    with transaction(db.sessions) as session:
        secret = enquiries.server_secret(session=session)
        assert enquiries.preview(session=session, now=NOW, secret=secret, token=sent)[1] is Answer.EXPECTED
        # A server that had WATCHKEEPER_SECRET_KEY set signed with the key itself: those links work too.
        raw = server_key(db.engine).raw()
        configured = sign(raw, before.enquiry.id, Answer.NOT_EXPECTED, before.enquiry.expires_at)
        assert enquiries.preview(session=session, now=NOW, secret=secret, token=configured)[1] is Answer.NOT_EXPECTED
        with pytest.raises(InvalidLink):
            enquiries.preview(
                session=session,
                now=NOW,
                secret=secret,
                token=sign(raw, later.enquiry.id, Answer.EXPECTED, later.enquiry.expires_at),
            )
        with pytest.raises(InvalidLink):
            enquiries.preview(session=session, now=NOW, secret=secret, token=forged)
        with pytest.raises(InvalidLink):
            enquiries.preview(session=session, now=NOW + timedelta(hours=72), secret=secret, token=sent)
    with transaction(db.sessions) as session:
        (contact,) = desk.contacts_of(desk.get_customer("Acme", session=session), session=session)
        assert contact.channel == CHANNEL


def test_a_key_file_that_cannot_be_made_says_what_to_set(tmp_path):
    from watchkeeper.cli import plain_error
    from watchkeeper.keys import KeyFileError, read_or_make_key_file

    with pytest.raises(KeyFileError) as refused:
        read_or_make_key_file(tmp_path / "no-such-folder" / "watchkeeper.key")
    assert "WATCHKEEPER_KEY_FILE" in str(refused.value) and "WATCHKEEPER_SECRET_KEY" in str(refused.value)
    assert plain_error(refused.value) == str(refused.value)
