"""SIP OPTIONS against a real Kamailio (Debian's package `kamailio`, installed by .ci/run).

The test writes a minimal stateless config on a free loopback port (UDP and TCP),
runs Kamailio in the foreground as the current user, and asserts what an operator
would see: up while it runs, down while it hangs and after it stops, up again
after a restart.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from watchkeeper.checks.result import ProbeKind, ProbeResult
from watchkeeper.checks.sip import options_probe

KAMAILIO = shutil.which("kamailio")

pytestmark = pytest.mark.skipif(
    KAMAILIO is None,
    reason="kamailio is not installed: `apt-get install --no-install-recommends kamailio` (.ci/run does)",
)

# Stateless (sl only, no tm): 200 to an OPTIONS for the server itself, 404 to anything else.
CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
loadmodule "pv.so"
loadmodule "sl.so"
request_route {{
    if (method == "OPTIONS" && $rU == $null) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("404", "Not Found");
    exit;
}}
"""


def free_udp_and_tcp_port() -> int:
    for _ in range(50):
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


def probe(port: int, transport: str, timeout: float = 1.0, user: str | None = None) -> ProbeResult:
    return asyncio.run(options_probe("127.0.0.1", port, transport, timeout, user=user))


class Kamailio:
    def __init__(self, where: Path) -> None:
        self.where = where
        self.port = free_udp_and_tcp_port()
        self.config = where / "kamailio.cfg"
        self.config.write_text(CONFIG.format(port=self.port))
        self.log = where / "kamailio.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert KAMAILIO is not None
        # -DD: no daemon, stays our child; -E: log to stderr; -Y, -w: a runtime dir a non-root user may write.
        args = [KAMAILIO, "-DD", "-E", "-m", "16", "-M", "4", "-Y", str(self.where), "-w", str(self.where)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*args, "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"kamailio exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            if probe(self.port, "udp", 0.5).up and probe(self.port, "tcp", 0.5).up:
                return
            time.sleep(0.1)
        pytest.fail(f"kamailio did not answer OPTIONS within 20 s:\n{self.log.read_text()[-3000:]}")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        """Stop every process of Kamailio's group (the main one and its children), however it is."""
        if self.process is None:
            return
        process, self.process = self.process, None
        for sig in (signal.SIGCONT, signal.SIGTERM):
            to_group(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            to_group(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        deadline = time.monotonic() + 5
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if group_alive(process.pid):
            to_group(process.pid, signal.SIGKILL)


def to_group(group: int, sig: int) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def kamailio(tmp_path):
    server = Kamailio(tmp_path)
    try:
        server.start()
        yield server
    finally:
        group = server.process.pid if server.process else None
        server.stop()
        print(f"--- kamailio.log\n{server.log.read_text()[-3000:]}")
        if group is not None:
            assert not group_alive(group), "a kamailio process was left behind"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_running_kamailio_is_up_with_its_round_trip_and_name(kamailio, transport):
    result = probe(kamailio.port, transport)
    assert result.up and result.error == "" and result.kind is ProbeKind.SIP
    assert 0 < result.latency < 1
    assert result.status == 200 and result.detail["transport"] == transport
    assert result.detail["server"].startswith("kamailio (")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_to_a_user_kamailio_does_not_know_is_down_with_its_404(kamailio, transport):
    result = probe(kamailio.port, transport, user="nobody")
    assert (result.up, result.error, result.detail["status"]) == (False, "404 Not Found", 404)


def test_a_hung_kamailio_is_down_at_the_timeout_and_up_when_it_resumes(kamailio):
    kamailio.signal(signal.SIGSTOP)
    for transport in ("udp", "tcp"):
        result = probe(kamailio.port, transport, timeout=1.0)
        assert (result.up, result.latency, result.error) == (False, None, "no final answer within 1 s")
    kamailio.signal(signal.SIGCONT)
    assert probe(kamailio.port, "udp", timeout=3.0).up
    assert probe(kamailio.port, "tcp", timeout=3.0).up


def test_a_stopped_kamailio_is_down_and_up_again_after_a_restart(kamailio):
    kamailio.stop()
    for transport in ("udp", "tcp"):
        result = probe(kamailio.port, transport, timeout=1.0)
        assert not result.up
        assert result.error == f"refused: nothing listens on 127.0.0.1:{kamailio.port} over {transport}"
    kamailio.start()
    assert probe(kamailio.port, "udp").up
    assert probe(kamailio.port, "tcp").up
