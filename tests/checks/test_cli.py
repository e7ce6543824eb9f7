"""`watchkeeper checks ...` and `watchkeeper run --check`, as an operator runs them."""

from __future__ import annotations

import json


def test_add_run_and_show_a_check_with_its_pings(run):
    added = json.loads(run("checks", "add", "backup", "--period", "1h", "--grace", "5m", "--json").output)
    assert added["status"] == "new" and added["period_seconds"] == 3600
    failed = run("run", "--check", "backup", "--", "sh", "-c", "echo copying; echo no space left; exit 3")
    assert failed.exit_code == 3
    assert run("run", "--check", "backup", "--", "true").exit_code == 0
    shown = json.loads(run("checks", "show", "backup", "--json").output)
    assert shown["status"] == "up"
    assert [(p["kind"], p["exit_status"]) for p in shown["pings"]] == [
        ("success", 0),
        ("start", None),
        ("fail", 3),
        ("start", None),
    ]
    assert shown["pings"][2]["body"] == "copying\nno space left\n"
    assert shown["pings"][2]["duration_seconds"] >= 0
    text = run("checks", "show", "backup").output
    assert "no space left" in text and "fail exit 3" in text


def test_pause_resume_remove_and_list(run):
    run("checks", "add", "rating", "--cron", "30 2 * * *", "--tz", "Europe/Berlin")
    assert "paused check rating" in run("checks", "pause", "rating").output
    assert json.loads(run("checks", "list", "--json").output)[0]["status"] == "paused"
    run("checks", "resume", "rating")
    assert json.loads(run("checks", "list", "--json").output)[0]["status"] == "new"
    run("checks", "remove", "rating")
    missing = run("checks", "show", "rating")
    assert missing.exit_code == 1 and "no check 'rating'" in missing.output


def test_a_schedule_it_cannot_read_is_refused_saying_what_to_write(run):
    refused = run("checks", "add", "x", "--oncalendar", "Funday 02:00")
    assert refused.exit_code == 1 and "Mon..Fri *-*-* 02:30:00" in " ".join(refused.output.split())


def test_run_pings_a_server_elsewhere_by_its_url(run):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[str, bytes]] = []

    class Pings(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append((self.path, body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/ping/abc"
        assert run("run", "--url", url, "--", "sh", "-c", "echo tail; exit 4").exit_code == 4
    finally:
        server.shutdown()
    (start, start_body), (result, body) = received
    assert start.startswith("/ping/abc/start?rid=") and start_body == b""
    assert result == f"/ping/abc/4?rid={start.split('rid=')[1]}" and body == b"tail\n"
