"""The probe runners against real servers on loopback, started here."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rrset
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from watchkeeper.checks import http1, probes
from watchkeeper.checks.probes import (
    DnsProbe,
    HttpProbe,
    ProbeKind,
    ProbeResult,
    TcpProbe,
    TlsProbe,
    parse_statuses,
    probe_dns,
    probe_http,
    probe_tcp,
    probe_tls,
    run_many,
)
from watchkeeper.clock import SystemClock
from watchkeeper.finding import Severity

CLOCK = SystemClock()  # certificates are checked by OpenSSL against the real time
ROOTS = ssl.create_default_context()  # once: loading the roots for every client is most of a test's time


# --- HTTP -------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes: dict[str, tuple[int, str, dict[str, str]]] = {
            "/ok": (200, "all systems go", {}),
            "/down": (503, "maintenance", {}),
            "/json": (200, json.dumps({"status": "ok", "checks": [{"ok": True}, {"ok": False}]}), {}),
            "/redirect": (302, "", {"Location": "/down"}),
            "/headers": (200 if self.headers.get("X-Token") == "s3cret" else 401, "", {}),
        }
        if self.path == "/slow":
            time.sleep(0.3)
            routes["/slow"] = (200, "finally", {})
        status, body, headers = routes.get(self.path, (404, "no such page", {}))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def http(spec: HttpProbe) -> ProbeResult:
    """What the probe finds through httpx; the scheduler's lean client (http1) must find the
    same, its connection kept and used again."""

    async def go() -> tuple[ProbeResult, ProbeResult, ProbeResult]:
        pool = http1.Pool()
        async with httpx.AsyncClient(verify=ROOTS) as client:
            by_httpx = await probe_http(spec, client=client, at=CLOCK.now())
            lean = await probe_http(spec, client=client, at=CLOCK.now(), pool=pool)
            again = await probe_http(spec, client=client, at=CLOCK.now(), pool=pool)
        await pool.aclose()
        return by_httpx, lean, again

    found = asyncio.run(go())
    said = {
        (r.up, re.sub(r"answered in [0-9.]+ s", "", r.error), repr(r.detail), r.target, r.latency is None)
        for r in found
    }
    assert len(said) == 1, found
    return found[0]


def test_http_200_is_up_with_its_latency(http_base: str) -> None:
    result = http(HttpProbe(f"{http_base}/ok"))
    assert result.up and result.error == ""
    assert result.latency is not None and 0 < result.latency < 1
    assert result.detail["status"] == 200
    assert result.target == http_base.removeprefix("http://")


def test_http_503_is_down_naming_the_expected_codes(http_base: str) -> None:
    result = http(HttpProbe(f"{http_base}/down"))
    assert not result.up
    assert result.error == "HTTP 503 (expected 200-399)"


def test_http_expected_status_can_be_a_class_or_a_list(http_base: str) -> None:
    assert http(HttpProbe(f"{http_base}/down", expected_status="5xx")).up
    assert http(HttpProbe(f"{http_base}/ok", expected_status="201,204")).error == "HTTP 200 (expected 201,204)"


def test_http_redirect_followed_judges_the_final_page(http_base: str) -> None:
    assert http(HttpProbe(f"{http_base}/redirect")).error == "HTTP 503 (expected 200-399)"


def test_http_redirect_not_followed_judges_the_redirect(http_base: str) -> None:
    result = http(HttpProbe(f"{http_base}/redirect", follow_redirects=False))
    assert result.up and result.detail["status"] == 302


def test_http_keyword_present_and_absent(http_base: str) -> None:
    assert http(HttpProbe(f"{http_base}/ok", keyword="systems go")).up
    assert http(HttpProbe(f"{http_base}/ok", keyword="error")).error == "HTTP 200: body lacks 'error'"
    absent = http(HttpProbe(f"{http_base}/ok", keyword="go", keyword_absent=True))
    assert absent.error == "HTTP 200: body contains 'go'"


def test_http_json_path_equals(http_base: str) -> None:
    assert http(HttpProbe(f"{http_base}/json", json_path="status", json_equals="ok")).up
    assert http(HttpProbe(f"{http_base}/json", json_path="checks.0.ok", json_equals=True)).up
    wrong = http(HttpProbe(f"{http_base}/json", json_path="checks.1.ok", json_equals=True))
    assert wrong.error == "HTTP 200: JSON checks.1.ok is false (expected true)"


def test_http_json_path_missing_or_not_json_is_down(http_base: str) -> None:
    assert http(HttpProbe(f"{http_base}/json", json_path="checks.5.ok", json_equals=True)).error == (
        "HTTP 200: JSON has no checks.5.ok"
    )
    assert http(HttpProbe(f"{http_base}/ok", json_path="status", json_equals="ok")).error == (
        "HTTP 200: body is not JSON"
    )


def test_http_true_is_not_one(http_base: str) -> None:
    assert not http(HttpProbe(f"{http_base}/json", json_path="checks.0.ok", json_equals=1)).up


def test_http_slower_than_the_threshold_is_down(http_base: str) -> None:
    result = http(HttpProbe(f"{http_base}/slow", max_latency=0.1))
    assert not result.up
    assert result.error.startswith("HTTP 200: answered in 0.")
    assert result.error.endswith("s, slower than 0.1 s")


def test_http_timeout_is_down_in_words(http_base: str) -> None:
    result = http(HttpProbe(f"{http_base}/slow", timeout=0.1))
    assert not result.up and result.latency is None
    assert result.error == f"no answer from {http_base.removeprefix('http://')} within 0.1 s"


def test_http_headers_are_sent(http_base: str) -> None:
    assert http(HttpProbe(f"{http_base}/headers", headers=(("X-Token", "s3cret"),))).up
    assert not http(HttpProbe(f"{http_base}/headers")).up


def test_http_refused_is_down_in_words(closed_port: int) -> None:
    result = http(HttpProbe(f"http://127.0.0.1:{closed_port}/"))
    assert result.error == f"connection refused by 127.0.0.1:{closed_port}"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TcpProbe("127.0.0.1", 70000), "port 70000 is not between 1 and 65535"),
        (lambda: TlsProbe("example.com", 0), "port 0 is not between 1 and 65535"),
        (lambda: DnsProbe("example.com", timeout=0), "timeout must be more than 0 s, not 0"),
        (lambda: HttpProbe("http://example.com/", timeout=-1), "timeout must be more than 0 s, not -1"),
        (lambda: HttpProbe("http://example.com/", json_path="a..b"), "JSON path 'a..b' needs names or numbers"),
        (lambda: DnsProbe("example.com", "AX"), "'AX' is not a DNS record type"),
    ],
)
def test_specs_that_cannot_run_are_refused(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_expected_status_that_is_not_a_code_is_refused() -> None:
    with pytest.raises(ValueError, match="'2oo' is not a code"):
        HttpProbe("http://example.invalid/", expected_status="2oo")
    assert parse_statuses("200-299, 3xx,404") == ((200, 299), (300, 399), (404, 404))


# --- TCP --------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tcp_open_port_is_up(http_base: str) -> None:
    port = int(http_base.rsplit(":", 1)[1])
    result = asyncio.run(probe_tcp(TcpProbe("127.0.0.1", port), at=CLOCK.now()))
    assert result.up and result.kind is ProbeKind.TCP and result.latency is not None
    assert result.target == f"127.0.0.1:{port}"


def test_tcp_closed_port_is_down_in_words(closed_port: int) -> None:
    result = asyncio.run(probe_tcp(TcpProbe("127.0.0.1", closed_port), at=CLOCK.now()))
    assert not result.up
    assert result.error == f"connection refused by 127.0.0.1:{closed_port}"


# --- TLS --------------------------------------------------------------------


class Authority:
    """A certificate authority of the test's own, and leaves it signs."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "watchkeeper test CA")])
        now = CLOCK.now()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = where / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def leaf(self, name: str, valid_for: timedelta) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = CLOCK.now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30))
            .not_valid_after(now + valid_for)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        stem = self.where / f"{name}-{valid_for.days}"
        stem.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        stem.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(stem.with_suffix(".crt"), stem.with_suffix(".key"))
        return context


def serve_tls(context: ssl.SSLContext) -> tuple[int, threading.Event]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def loop() -> None:
        with listener:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                conn.settimeout(2)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass  # the client refused the certificate, or hung up: both are the test's point
                finally:
                    conn.close()

    threading.Thread(target=loop, daemon=True).start()
    return int(listener.getsockname()[1]), stop


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(authority: Authority) -> Iterator[Any]:
    stops: list[threading.Event] = []

    def start(name: str, valid_for: timedelta) -> int:
        port, stop = serve_tls(authority.leaf(name, valid_for))
        stops.append(stop)
        return port

    yield start
    for stop in stops:
        stop.set()


def tls(spec: TlsProbe) -> ProbeResult:
    return asyncio.run(probe_tls(spec, at=CLOCK.now()))


def test_tls_certificate_valid_90_days_is_up(authority: Authority, tls_server: Any) -> None:
    port = tls_server("probe.test", timedelta(days=90, hours=1))
    result = tls(TlsProbe("127.0.0.1", port, server_name="probe.test", ca_file=str(authority.ca_file)))
    assert result.up and result.severity is None
    assert result.detail["days_left"] == 90
    assert result.target == f"probe.test:{port}"


def test_tls_certificate_expiring_in_5_days_is_critical(authority: Authority, tls_server: Any) -> None:
    port = tls_server("probe.test", timedelta(days=5, hours=1))
    result = tls(TlsProbe("127.0.0.1", port, server_name="probe.test", ca_file=str(authority.ca_file)))
    expires = (CLOCK.now() + timedelta(days=5, hours=1)).date()
    assert not result.up
    assert result.severity is Severity.CRITICAL
    assert result.detail["days_left"] == 5
    assert result.error == f"certificate expires in 5 days ({expires:%Y-%m-%d})"


def test_tls_warning_and_critical_days_are_configurable(authority: Authority, tls_server: Any) -> None:
    port = tls_server("probe.test", timedelta(days=5, hours=1))
    ca = str(authority.ca_file)
    warned = tls(TlsProbe("127.0.0.1", port, server_name="probe.test", ca_file=ca, critical_days=3))
    assert warned.severity is Severity.WARNING and not warned.up
    quiet = tls(TlsProbe("127.0.0.1", port, server_name="probe.test", ca_file=ca, warn_days=4, critical_days=2))
    assert quiet.up


def test_tls_name_mismatch_is_down_with_the_reason(authority: Authority, tls_server: Any) -> None:
    port = tls_server("other.test", timedelta(days=90))
    result = tls(TlsProbe("127.0.0.1", port, server_name="probe.test", ca_file=str(authority.ca_file)))
    assert not result.up and result.severity is Severity.CRITICAL
    assert result.error.startswith(f"certificate of 127.0.0.1:{port} is not valid: Hostname mismatch")
    assert "probe.test" in result.error


def test_tls_untrusted_chain_is_down_with_the_reason(tls_server: Any) -> None:
    port = tls_server("probe.test", timedelta(days=90))
    result = tls(TlsProbe("127.0.0.1", port, server_name="probe.test"))
    assert not result.up
    assert result.error == f"certificate of 127.0.0.1:{port} is not valid: unable to get local issuer certificate"


def test_tls_expired_certificate_is_down_with_the_reason(authority: Authority, tls_server: Any) -> None:
    port = tls_server("probe.test", timedelta(days=-2))
    result = tls(TlsProbe("127.0.0.1", port, server_name="probe.test", ca_file=str(authority.ca_file)))
    assert result.severity is Severity.CRITICAL
    assert result.error == f"certificate of 127.0.0.1:{port} is not valid: certificate has expired"


def test_tls_context_that_does_not_verify_still_reads_the_expiry(tls_server: Any) -> None:
    port = tls_server("probe.test", timedelta(days=10, hours=1))
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    result = asyncio.run(probe_tls(TlsProbe("127.0.0.1", port, "probe.test"), at=CLOCK.now(), context=context))
    assert result.severity is Severity.WARNING and result.detail["days_left"] == 10


def test_https_with_a_certificate_for_another_name_is_down(authority: Authority, tls_server: Any) -> None:
    port = tls_server("other.test", timedelta(days=90))

    async def go() -> ProbeResult:
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=authority.ca_file)) as client:
            return await probe_http(HttpProbe(f"https://127.0.0.1:{port}/", timeout=2), client=client, at=CLOCK.now())

    result = asyncio.run(go())
    assert not result.up
    assert result.error.startswith(f"certificate of 127.0.0.1:{port} is not valid: IP address mismatch")


def test_tls_takes_a_context_of_the_callers(authority: Authority, tls_server: Any) -> None:
    port = tls_server("probe.test", timedelta(days=90))
    context = ssl.create_default_context(cafile=authority.ca_file)
    result = asyncio.run(probe_tls(TlsProbe("127.0.0.1", port, "probe.test"), at=CLOCK.now(), context=context))
    assert result.up


# --- DNS --------------------------------------------------------------------

ZONE = {
    ("probe.test.", "A"): ["192.0.2.10", "192.0.2.11"],
    ("probe.test.", "MX"): ["10 mail.probe.test."],
    ("probe.test.", "TXT"): ['"v=spf1 -all"'],
    ("www.probe.test.", "CNAME"): ["probe.test."],
}


def serve_dns() -> tuple[int, threading.Event]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def loop() -> None:
        with sock:
            while not stop.is_set():
                try:
                    wire, peer = sock.recvfrom(4096)
                except TimeoutError:
                    continue
                query = dns.message.from_wire(wire)
                question = query.question[0]
                name, kind = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
                if name == "silent.probe.test.":
                    continue
                response = dns.message.make_response(query)
                if (name, kind) in ZONE:
                    response.answer.append(dns.rrset.from_text_list(name, 300, "IN", kind, ZONE[name, kind]))
                elif not any(n == name for n, _ in ZONE):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                sock.sendto(response.to_wire(), peer)

    threading.Thread(target=loop, daemon=True).start()
    return int(sock.getsockname()[1]), stop


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    port, stop = serve_dns()
    yield port
    stop.set()


def resolve(dns_port: int, name: str, kind: str = "A", *expected: str) -> ProbeResult:
    spec = DnsProbe(name, kind, expected, nameserver="127.0.0.1", port=dns_port, timeout=0.3)
    return asyncio.run(probe_dns(spec, at=CLOCK.now()))


def test_dns_name_that_resolves_is_up_with_its_answers(dns_port: int) -> None:
    result = resolve(dns_port, "probe.test")
    assert result.up and result.detail["answers"] == ["192.0.2.10", "192.0.2.11"]


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("probe.test", "A", "192.0.2.11"),
        ("probe.test", "MX", "10 mail.probe.test"),
        ("probe.test", "TXT", '"v=spf1 -all"'),
        ("www.probe.test", "CNAME", "PROBE.test."),
    ],
)
def test_dns_expected_answer_is_found(dns_port: int, name: str, kind: str, expected: str) -> None:
    assert resolve(dns_port, name, kind, expected).up


def test_dns_other_answer_than_expected_is_down(dns_port: int) -> None:
    result = resolve(dns_port, "probe.test", "A", "192.0.2.99")
    assert result.error == "probe.test A is 192.0.2.10, 192.0.2.11 (expected 192.0.2.99)"


def test_dns_missing_name_and_missing_record(dns_port: int) -> None:
    assert resolve(dns_port, "nowhere.test").error == "nowhere.test does not exist"
    assert resolve(dns_port, "probe.test", "AAAA").error == "probe.test has no AAAA record"


def test_dns_silent_server_is_down_in_words(dns_port: int) -> None:
    result = resolve(dns_port, "silent.probe.test")
    assert not result.up
    assert result.error == f"no answer from 127.0.0.1:{dns_port} within 0.3 s"


# --- many at once -----------------------------------------------------------


def test_run_many_keeps_the_order_and_bounds_each_probe(http_base: str, closed_port: int) -> None:
    specs = [
        HttpProbe(f"{http_base}/ok"),
        TcpProbe("127.0.0.1", closed_port),
        HttpProbe(f"{http_base}/slow", timeout=0.1),
        HttpProbe(f"{http_base}/down"),
    ]

    async def go() -> list[ProbeResult]:
        async with httpx.AsyncClient(verify=ROOTS) as client:
            return await run_many(specs, client=client, clock=CLOCK, limit=2)

    started = time.perf_counter()
    results = asyncio.run(go())
    assert time.perf_counter() - started < 2
    assert [r.up for r in results] == [True, False, False, False]
    assert [r.kind for r in results] == [ProbeKind.HTTP, ProbeKind.TCP, ProbeKind.HTTP, ProbeKind.HTTP]
    assert results[3].error == "HTTP 503 (expected 200-399)"


def test_run_many_runs_no_more_than_the_limit_at_once(http_base: str) -> None:
    specs = [HttpProbe(f"{http_base}/slow") for _ in range(4)]

    async def go() -> list[ProbeResult]:
        async with httpx.AsyncClient(verify=ROOTS) as client:
            return await run_many(specs, client=client, clock=CLOCK, limit=2)

    started = time.perf_counter()
    assert all(r.up for r in asyncio.run(go()))
    assert time.perf_counter() - started >= 0.6  # two rounds of 0.3 s


def test_run_many_turns_a_broken_probe_into_a_down_result(http_base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(spec: TcpProbe, *, at: Any) -> ProbeResult:
        raise RuntimeError("no route in the table")

    monkeypatch.setattr(probes, "probe_tcp", broken)

    async def go() -> list[ProbeResult]:
        async with httpx.AsyncClient(verify=ROOTS) as client:
            return await run_many([TcpProbe("db", 5432), HttpProbe(f"{http_base}/ok")], client=client, clock=CLOCK)

    broke, fine = asyncio.run(go())
    assert broke.error == "the probe of db:5432 failed: RuntimeError: no route in the table"
    assert fine.up
