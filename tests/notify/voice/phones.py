"""A real SIP network on loopback for the paging tests: Kamailio as the operator's registrar
and proxy, baresip as the on-call engineer's phone.

Kamailio keeps its locations in memory (usrloc db_mode 0) and needs no database: the
trunk user's password is in the config and checked with the auth module's
`pv_proxy_authenticate` (or `pv_www_authenticate`), so watchkeeper's INVITE is challenged
with a 407 (or a 401) exactly as an operator's proxy (or PBX) would; the phone registers without a password, which only a test network
allows. Anyone but the trunk user is refused with a 403, an unknown user is a 404.

baresip runs with a config dir of its own: `aubridge` as its sound card (no hardware),
`sndfile` to write what it hears to a WAV, `cons` to take key presses over UDP the way a
person presses them (press, then release), and `answermode=auto` or `manual` per test.
"""

from __future__ import annotations

import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.checks.test_sip_kamailio import Kamailio, free_udp_and_tcp_port, group_alive, to_group

TRUNK_USER = "watchkeeper"
TRUNK_PASSWORD = "correct horse"
NEEDED = ("kamailio", "baresip", "espeak-ng", "sox")
MISSING = [name for name in NEEDED if shutil.which(name) is None]

needs_phones = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{', '.join(MISSING)} not installed: `apt-get install --no-install-recommends {' '.join(NEEDED)}`",
)

REGISTRAR = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "auth.so"
loadmodule "xlog.so"
modparam("usrloc", "db_mode", 0)
request_route {{
    xlog("L_INFO", "$rm $ru from $fu ($si:$sp/$pr)\\n");
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("OPTIONS") && $rU == $null) {{ sl_send_reply("200", "OK"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not Here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{ save("location"); exit; }}
    if (is_method("INVITE")) {{
        if ($fU != "{user}") {{ sl_send_reply("403", "Only The Trunk User Calls"); exit; }}
        if (!pv_{challenge}_authenticate("$fd", "{password}", "0")) {{ {challenge}_challenge("$fd", "{qop}"); exit; }}
        consume_credentials();
        record_route();
        if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""


class Registrar(Kamailio):
    """Kamailio as the tests in tests/checks start it, with the registrar and proxy config."""

    def __init__(self, where: Path, challenge: str = "proxy", qop: bool = True) -> None:
        """`challenge` "proxy" answers an INVITE without credentials with a 407, as a proxy
        does; "www" with a 401, as Asterisk and most PBXs do. `qop` says whether the
        challenge asks for qop=auth (RFC 2617) or not (RFC 2069's form)."""
        super().__init__(where)
        config = REGISTRAR.format(
            port=self.port, user=TRUNK_USER, password=TRUNK_PASSWORD, challenge=challenge, qop=int(qop)
        )
        self.config.write_text(config)


PHONE_CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{sip}
sip_trans_def udp
audio_player aubridge,{name}
audio_source aubridge,{name}
audio_alert aubridge,{name}-alert
module_path {modules}
module g711.so
module aubridge.so
module sndfile.so
module cons.so
module_app account.so
module_app menu.so
cons_listen 127.0.0.1:{keys}
snd_path {recordings}
"""

KEY_RELEASE = b"\x04"  # baresip's KEYCODE_REL: the key is let go, the tone ends


def free_sip_ports() -> int:
    """A port free for UDP and TCP whose next port is free for TCP too: baresip listens for
    SIP over TLS on the port after its `sip_listen` one."""
    for _ in range(50):
        port = free_udp_and_tcp_port()
        with socket.socket() as tls:
            try:
                tls.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no pair of ports free for baresip on 127.0.0.1")


def baresip_modules() -> str:
    for path in (
        "/usr/lib/baresip/modules",
        "/usr/lib/x86_64-linux-gnu/baresip/modules",
        "/usr/local/lib/baresip/modules",
    ):
        if Path(path, "g711.so").exists():
            return path
    pytest.skip("baresip's modules (g711.so) are not where Debian puts them")


def no_core_dumps() -> None:
    """baresip 1.0 may crash when stopped after its registrar is gone; no core file for that."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Phone:
    """One baresip, registered to `registrar` as `user`."""

    def __init__(self, where: Path, registrar: Registrar, user: str, answer: str = "auto") -> None:
        self.where = where / user
        self.recordings = self.where / "heard"
        self.recordings.mkdir(parents=True)
        self.user, self.registrar = user, registrar
        self.keys_port = free_udp_and_tcp_port()
        config = PHONE_CONFIG.format(
            sip=free_sip_ports(),
            name=user,
            modules=baresip_modules(),
            keys=self.keys_port,
            recordings=self.recordings,
        )
        (self.where / "config").write_text(config)
        account = f"<sip:{user}@127.0.0.1:{registrar.port}>;regint=60;answermode={answer};audio_codecs=PCMU\n"
        (self.where / "accounts").write_text(account)
        (self.where / "contacts").write_text("")
        self.log = self.where / "baresip.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["baresip", "-f", str(self.where), "-v"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.where,
                preexec_fn=no_core_dumps,
            )
        self.wait_for("200 OK", "registered")

    def wait_for(self, text: str, what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"baresip exited with {self.process.returncode}:\n{self.tail()}")
            time.sleep(0.05)
        pytest.fail(f"baresip not {what} within {timeout:g} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace").replace("\r", "\n")[-3000:]

    def key(self, data: bytes) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as keys:
            keys.sendto(data, ("127.0.0.1", self.keys_port))

    def press(self, key: str, hold: float = 0.2) -> None:
        self.key(key.encode())
        time.sleep(hold)
        self.key(KEY_RELEASE)

    def heard(self) -> Path:
        """The WAV of what the phone received and decoded in its (one) call."""
        files = sorted(self.recordings.glob("dump-*-dec.wav"))
        assert files, f"baresip recorded nothing in {self.recordings}:\n{self.tail()}"
        return files[-1]

    def stop(self) -> None:
        """baresip unregisters on the first SIGTERM and leaves at the second."""
        if self.process is None:
            return
        process, self.process = self.process, None
        for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
            to_group(process.pid, sig)
            try:
                process.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        if group_alive(process.pid):
            to_group(process.pid, signal.SIGKILL)


def sox_stat(wav: Path, name: str) -> float:
    """One figure of `sox FILE -n stat`: "RMS     amplitude" (0 is silence, 1 full scale),
    "Length (seconds)"."""
    stat = subprocess.run(["sox", str(wav), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    for line in stat.splitlines():
        if line.startswith(name):
            return float(line.split(":")[1])
    raise AssertionError(f"sox stat printed no {name}:\n{stat}")


def rms_amplitude(wav: Path) -> float:
    return sox_stat(wav, "RMS     amplitude")


def seconds_long(wav: Path) -> float:
    return sox_stat(wav, "Length (seconds)")


# -- the fixtures: tests/notify/voice/conftest.py shares them; other test folders import them ----


@pytest.fixture
def registrar(tmp_path, request):
    challenge, qop = getattr(request, "param", ("proxy", True))
    server = Registrar(tmp_path, challenge, qop)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        print(f"--- kamailio.log\n{server.log.read_text()[-3000:]}")


@pytest.fixture
def phones(tmp_path, registrar):
    started: list[Phone] = []

    def start(user: str, answer: str = "auto") -> Phone:
        phone = Phone(tmp_path, registrar, user, answer)
        started.append(phone)
        phone.start()
        return phone

    try:
        yield start
    finally:
        for phone in started:
            phone.stop()
            print(f"--- baresip {phone.user}\n{phone.tail()}")
