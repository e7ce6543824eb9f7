"""The outbox on SQLite and PostgreSQL: written once, sent once, retried with backoff, outcome on the timeline."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from watchkeeper.db import transaction
from watchkeeper.notify.outbox import (
    MAX_ATTEMPTS,
    AppriseSender,
    SendError,
    Status,
    backoff,
    claim_to_send,
    deliver,
    deliver_due,
    enqueue,
    list_notifications,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Flaky:
    """Fails the first `failures` sends, then delivers; remembers what it delivered."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.delivered = failures, []

    def send(self, url, title, body):
        if self.failures:
            self.failures -= 1
            raise SendError("smtp: connection refused")
        self.delivered.append((url, title))


class Clock:
    def __init__(self):
        self.at = NOW

    def __call__(self):
        return self.at


def put(db, recipient="Bob", reason="ask"):
    with transaction(db.sessions) as session:
        return enqueue(
            session=session,
            now=NOW,
            subject="case",
            subject_id=1,
            reason=reason,
            recipient=recipient,
            url="mailto://user:secret@example.com",
            title="Is the silence expected?",
            body="links",
        )


def test_the_same_key_is_written_once_and_sent_once(db):
    assert put(db) is not None
    assert put(db) is None
    sender, clock = Flaky(), Clock()
    assert deliver_due(db.sessions, sender=sender, now=clock) == 1
    assert deliver_due(db.sessions, sender=sender, now=clock) == 0
    assert sender.delivered == [("mailto://user:secret@example.com", "Is the silence expected?")]


class Slow:
    """Each send waits until `together` sends are under way, so sent one after another they never finish."""

    def __init__(self, together: int) -> None:
        self.barrier, self.delivered = threading.Barrier(together, timeout=5), []

    def send(self, url, title, body):
        self.barrier.wait()
        self.delivered.append(title)


def test_a_claims_messages_are_sent_together_and_each_outcome_recorded(db):
    for who in ("ann", "bob", "cho", "dan"):
        put(db, recipient=who)
    with transaction(db.sessions) as session:
        claimed = claim_to_send(session=session, now=NOW, limit=20)
    sender = Slow(together=4)
    deliver(claimed, db.sessions, sender=sender, now=Clock(), at_once=4)
    assert len(sender.delivered) == 4
    with transaction(db.sessions) as session:
        assert {n.status for n in list_notifications(session=session)} == {Status.SENT}


def test_failures_are_retried_with_backoff_then_given_up(db):
    put(db)
    sender, clock = Flaky(failures=MAX_ATTEMPTS), Clock()
    deliver_due(db.sessions, sender=sender, now=clock)
    with transaction(db.sessions) as session:
        (row,) = list_notifications(session=session)
        assert (row.status, row.attempts, row.due_at) == (Status.PENDING, 1, NOW + timedelta(seconds=30))
        assert row.last_error == "smtp: connection refused"
    clock.at += timedelta(seconds=29)
    assert deliver_due(db.sessions, sender=sender, now=clock) == 0  # not yet
    for _ in range(MAX_ATTEMPTS):
        clock.at += timedelta(hours=1)
        deliver_due(db.sessions, sender=sender, now=clock)
    with transaction(db.sessions) as session:
        (row,) = list_notifications(session=session)
        assert (row.status, row.attempts) == (Status.FAILED, MAX_ATTEMPTS)
    assert sender.delivered == []
    assert [backoff(n) for n in (1, 2, 3, 10)] == [
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(hours=1),
    ]


def test_a_claimed_notification_is_not_claimed_again_while_its_lease_runs(db):
    from watchkeeper.notify.outbox import claim

    put(db)
    with transaction(db.sessions) as session:
        assert len(claim(session=session, now=NOW)) == 1
    with transaction(db.sessions) as session:
        assert claim(session=session, now=NOW + timedelta(minutes=1)) == []  # another worker, a minute later
    with transaction(db.sessions) as session:
        assert len(claim(session=session, now=NOW + timedelta(minutes=3))) == 1  # the first one died


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        Receiver.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_apprise_delivers_to_a_real_webhook(receiver):
    AppriseSender().send(f"json://127.0.0.1:{receiver}/hook", "Is the silence expected?", "two links")
    (message,) = Receiver.received
    assert (message["title"], message["message"]) == ("Is the silence expected?", "two links")


def test_apprise_failures_say_where_without_the_secret():
    with pytest.raises(SendError) as refused:
        AppriseSender().send("json://user:secret@127.0.0.1:9/hook", "t", "b")  # nothing listens on port 9
    assert "127.0.0.1" in str(refused.value) and "secret" not in str(refused.value)
    with pytest.raises(SendError, match="not a notification URL"):
        AppriseSender().send("nonsense://x", "t", "b")


class FileSender:
    """Appends each title to a file: what two processes sent, in one place."""

    def __init__(self, path):
        self.path = path

    def send(self, url, title, body):
        import os
        import time

        with open(self.path, "a") as f:
            f.write(f"{os.getpid()} {title}\n")
        time.sleep(0.002)  # a real send takes a while; the other worker gets its turn


def _worker(url: str, path: str, ready, key_file: str) -> None:
    from watchkeeper.db import make_engine
    from watchkeeper.wiring import sessionmaker as wired_sessions

    engine = make_engine(url, key_file=key_file)  # the server's key, to read the sealed URLs
    sessions = wired_sessions(engine)
    sender, idle = FileSender(path), 0
    ready.wait(timeout=60)  # both processes start delivering together, however long each took to start
    while idle < 3:
        idle = idle + 1 if deliver_due(sessions, sender=sender, now=lambda: NOW, limit=5) == 0 else 0
    engine.dispose()


def test_two_worker_processes_send_each_notification_exactly_once(db, tmp_path):
    import multiprocessing

    with transaction(db.sessions) as session:
        for n in range(200):
            enqueue(
                session=session,
                now=NOW,
                subject="case",
                subject_id=n,
                reason="breach",
                recipient="Bob",
                url="json://127.0.0.1/hook",
                title=f"n{n}",
                body="",
            )
    sent = tmp_path / "sent.txt"
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(2)
    workers = [
        spawn.Process(target=_worker, args=(db.url, str(sent), ready, str(tmp_path / "watchkeeper.key")))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    lines = [line.split() for line in sent.read_text().splitlines()]
    assert sorted(title for _, title in lines) == sorted(f"n{n}" for n in range(200))  # every one, none twice
    assert len({pid for pid, _ in lines}) == 2  # and both workers took part
    with transaction(db.sessions) as session:
        assert {r.status for r in list_notifications(session=session, limit=1000)} == {Status.SENT}
