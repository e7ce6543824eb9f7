"""`serve`'s start: the port is taken before anything is set up, and enquiry links follow the port."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def served(monkeypatch):
    """What `serve` handed uvicorn, instead of serving: its config and sockets."""
    import uvicorn

    seen: dict[str, object] = {}

    def run(server, sockets=None):
        seen.update(config=server.config, sockets=sockets)
        for sock in sockets or []:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return seen


def flat(text: str) -> str:
    """Output as one line: rich wraps long lines at the terminal's width."""
    return " ".join(text.split())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_busy_port_fails_before_the_first_token_and_the_next_start_shows_it(run, served):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        failed = run("serve", "--port", str(port))
    assert failed.exit_code == 3
    assert f"port {port} on 127.0.0.1 is in use" in flat(failed.output) and f"--port {port + 1}" in flat(failed.output)
    assert "token" not in failed.output and served == {}
    started = run("serve", "--port", str(free_port()))
    assert started.exit_code == 0, started.output
    assert "no API token existed; created one (shown once): wk_" in flat(started.output)


def test_enquiry_links_follow_the_port_serve_listens_on_and_an_unset_public_url_is_warned(run, served, monkeypatch):
    port = free_port()
    started = run("serve", "--port", str(port))
    assert started.exit_code == 0, started.output
    assert served["config"].app.state.settings.public_url == f"http://127.0.0.1:{port}"
    assert "WATCHKEEPER_PUBLIC_URL is not set" in flat(started.output)
    monkeypatch.setenv("WATCHKEEPER_PUBLIC_URL", "https://desk.example.com")
    from watchkeeper.config import get_settings

    get_settings.cache_clear()
    again = run("serve", "--port", str(free_port()))
    assert served["config"].app.state.settings.public_url == "https://desk.example.com"
    assert "WATCHKEEPER_PUBLIC_URL" not in again.output
