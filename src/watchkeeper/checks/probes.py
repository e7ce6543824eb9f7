"""Active probes: HTTP(S), TCP, TLS, DNS and SIP OPTIONS, each one request with a timeout.

A runner reports what it found as a `ProbeResult` and never raises for it: a
refused connection, a silent server or a bad certificate is a down result whose
error a person can act on. No storage and no clock reads: the caller gives the
instant the probe ran (`at`), and the scheduler decides when it runs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import httpx
from cryptography import x509

from watchkeeper.checks import http1, sip
from watchkeeper.checks.result import ProbeKind as ProbeKind
from watchkeeper.checks.result import ProbeResult as ProbeResult
from watchkeeper.clock import Clock
from watchkeeper.finding import Severity

BODY_LIMIT = 1024 * 1024  # what a keyword or a JSON path is looked for in


_STATUS = re.compile(r"^(?:(\d{3})(?:-(\d{3}))?|([1-5])xx)$")


def parse_statuses(text: str) -> tuple[tuple[int, int], ...]:
    """Status codes as an operator writes them: "200-399", "200,204", "2xx,301"."""
    ranges: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        match = _STATUS.match(part.lower())
        if match is None:
            raise ValueError(f"expected status {part!r} is not a code, a range like 200-399, or a class like 2xx")
        low, high, klass = match.groups()
        if klass:
            ranges.append((int(klass) * 100, int(klass) * 100 + 99))
        else:
            ranges.append((int(low), int(high or low)))
        if ranges[-1][0] > ranges[-1][1]:
            raise ValueError(f"expected status range {part!r} ends before it starts")
    return tuple(ranges)


@dataclass(frozen=True)
class HttpProbe:
    """An HTTP(S) request judged by its status, body, JSON and speed.

    `json_path` is a dotted path into the JSON body: names select object
    members, whole numbers select list items ("checks.0.ok"); the value there
    must equal `json_equals` (a JSON value: text, number, true/false, null;
    true is not 1). A missing path or a body that is not JSON is down.
    """

    url: str
    method: str = "GET"
    expected_status: str = "200-399"
    keyword: str | None = None
    keyword_absent: bool = False  # the keyword must not appear
    json_path: str | None = None
    json_equals: Any = None
    max_latency: float | None = None  # seconds; slower is down
    follow_redirects: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 10.0

    def __post_init__(self) -> None:
        parse_statuses(self.expected_status)
        _check_timeout(self.timeout)
        if self.json_path is not None and not all(self.json_path.split(".")):
            raise ValueError(f"JSON path {self.json_path!r} needs names or numbers between its dots, e.g. checks.0.ok")

    @property
    def target(self) -> str:
        return urlsplit(self.url).netloc or self.url


@dataclass(frozen=True)
class TcpProbe:
    host: str
    port: int
    timeout: float = 5.0

    def __post_init__(self) -> None:
        _check_port(self.port)
        _check_timeout(self.timeout)

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TlsProbe:
    """A TLS handshake: the chain must be valid for `server_name` (the host
    unless given), and the certificate must not expire within `warn_days`."""

    host: str
    port: int = 443
    server_name: str | None = None
    warn_days: int = 21
    critical_days: int = 7
    ca_file: str | None = None  # trusted instead of the system's roots
    timeout: float = 5.0

    def __post_init__(self) -> None:
        _check_port(self.port)
        _check_timeout(self.timeout)

    @property
    def target(self) -> str:
        return f"{self.server_name or self.host}:{self.port}"


@dataclass(frozen=True)
class DnsProbe:
    """A name resolves to a record of `record_type`; each of `expected`, when
    given, must be among the answers (compared as text, case and a final dot
    aside)."""

    name: str
    record_type: str = "A"
    expected: tuple[str, ...] = ()
    nameserver: str | None = None  # the system's resolvers unless given
    port: int = 53
    timeout: float = 5.0

    def __post_init__(self) -> None:
        _check_port(self.port)
        _check_timeout(self.timeout)
        try:
            dns.rdatatype.from_text(self.record_type)
        except dns.rdatatype.UnknownRdatatype:
            raise ValueError(f"{self.record_type!r} is not a DNS record type, e.g. A, AAAA, CNAME, MX, TXT") from None

    @property
    def target(self) -> str:
        return self.name


@dataclass(frozen=True)
class SipProbe:
    """A SIP OPTIONS to `sip:[user@]host:port` over UDP or TCP (watchkeeper.checks.sip)."""

    host: str
    port: int = 5060
    transport: str = "udp"
    timeout: float = 5.0
    user: str | None = None

    def __post_init__(self) -> None:
        sip.check_options(self.host, self.port, self.transport, self.timeout, self.user)

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


ProbeSpec = HttpProbe | TcpProbe | TlsProbe | DnsProbe | SipProbe


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not between 1 and 65535")


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise ValueError(f"a probe's timeout must be more than 0 s, not {timeout:g}")


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _reason(exc: BaseException, where: str, timeout: float) -> str:
    """A network failure in words, from the OS error underneath a library's."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return f"connection refused by {where}"
        if isinstance(seen, socket.gaierror):
            return f"{where.rsplit(':', 1)[0]} not found ({seen.strerror})"
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"certificate of {where} is not valid: {seen.verify_message}"
        if isinstance(seen, TimeoutError | httpx.TimeoutException):
            return f"no answer from {where} within {_seconds(timeout)}"
        if isinstance(seen, ConnectionResetError):
            return f"connection reset by {where}"
        seen = seen.__cause__ or seen.__context__
    return f"{where}: {exc}" if str(exc) else f"{where}: {type(exc).__name__}"


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _at_path(document: Any, path: str) -> tuple[bool, Any]:
    value = document
    for step in path.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return False, None
    return True, value


def _same_json(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _judge_body(spec: HttpProbe, body: bytes, encoding: str) -> str:
    """Why the body fails the probe, or ""."""
    text = body.decode(encoding, errors="replace")
    if spec.keyword is not None and (spec.keyword in text) == spec.keyword_absent:
        return f"body {'contains' if spec.keyword_absent else 'lacks'} {spec.keyword!r}"
    if spec.json_path is None:
        return ""
    try:
        document = json.loads(body)
    except ValueError:
        return "body is not JSON"
    found, value = _at_path(document, spec.json_path)
    if not found:
        return f"JSON has no {spec.json_path}"
    if not _same_json(value, spec.json_equals):
        return f"JSON {spec.json_path} is {_json_text(value)} (expected {_json_text(spec.json_equals)})"
    return ""


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _read(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= BODY_LIMIT:
            break
    return bytes(body[:BODY_LIMIT])


async def _by_httpx(spec: HttpProbe, client: httpx.AsyncClient) -> tuple[int, bytes, str]:
    request = client.build_request(spec.method, spec.url, headers=dict(spec.headers), timeout=spec.timeout)
    response = await client.send(request, stream=True, follow_redirects=spec.follow_redirects)
    try:
        body = await _read(response)
    finally:
        await response.aclose()
    return response.status_code, body, response.encoding or "utf-8"


async def _exchange(spec: HttpProbe, client: httpx.AsyncClient, pool: http1.Pool | None) -> tuple[int, bytes, str]:
    """Status, body and its encoding: by `pool` when it takes the request, else by httpx."""
    if pool is not None and pool.takes(spec.url):
        try:
            answer = await pool.request(
                spec.method, spec.url, spec.headers, limit=BODY_LIMIT, redirects=spec.follow_redirects
            )
        except http1.Unsupported:
            pass
        else:
            return answer.status, answer.body, answer.encoding
    return await _by_httpx(spec, client)


async def probe_http(
    spec: HttpProbe, *, client: httpx.AsyncClient, at: datetime, pool: http1.Pool | None = None
) -> ProbeResult:
    """`pool` (http1), when given, sends the plain http:// requests it takes; httpx the rest."""

    def result(up: bool, latency: float | None, error: str = "", **detail: Any) -> ProbeResult:
        return ProbeResult(ProbeKind.HTTP, spec.target, up, latency, at, error, {"url": spec.url, **detail})

    started = time.perf_counter()
    try:
        async with asyncio.timeout(spec.timeout):
            status, body, encoding = await _exchange(spec, client, pool)
    except (httpx.HTTPError, OSError, TimeoutError, http1.ProtocolError) as exc:
        return result(False, None, _reason(exc, _host_port(spec.url), spec.timeout))
    latency = time.perf_counter() - started
    if not any(low <= status <= high for low, high in parse_statuses(spec.expected_status)):
        return result(False, latency, f"HTTP {status} (expected {spec.expected_status})", status=status)
    problem = _judge_body(spec, body, encoding)
    if not problem and spec.max_latency is not None and latency > spec.max_latency:
        problem = f"answered in {latency:.2f} s, slower than {_seconds(spec.max_latency)}"
    return result(not problem, latency, f"HTTP {status}: {problem}" if problem else "", status=status)


async def probe_tcp(spec: TcpProbe, *, at: datetime) -> ProbeResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(spec.timeout):
            _, writer = await asyncio.open_connection(spec.host, spec.port)
    except (OSError, TimeoutError) as exc:
        return ProbeResult(ProbeKind.TCP, spec.target, False, None, at, _reason(exc, spec.target, spec.timeout))
    latency = time.perf_counter() - started
    writer.close()
    await _closed(writer)
    return ProbeResult(ProbeKind.TCP, spec.target, True, latency, at)


async def _closed(writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.wait_for(writer.wait_closed(), 1)
    except (OSError, TimeoutError):
        pass  # the answer is in; a peer slow to close changes nothing


@functools.lru_cache(maxsize=64)
def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The default verifying context, trusting `ca_file` instead of the
    system's roots when given. Shared: loading the roots costs more than a
    handshake, and a context may serve many connections at once."""
    return ssl.create_default_context(cafile=ca_file)


async def probe_tls(spec: TlsProbe, *, at: datetime, context: ssl.SSLContext | None = None) -> ProbeResult:
    name = spec.server_name or spec.host
    where = f"{spec.host}:{spec.port}"
    started = time.perf_counter()
    try:
        async with asyncio.timeout(spec.timeout):
            _, writer = await asyncio.open_connection(
                spec.host, spec.port, ssl=context or tls_context(spec.ca_file), server_hostname=name
            )
    except (OSError, TimeoutError) as exc:
        # An invalid chain, a name mismatch and an expired certificate are
        # critical: clients are already refusing it.
        error = _reason(exc, where, spec.timeout)
        return ProbeResult(ProbeKind.TLS, spec.target, False, None, at, error, severity=Severity.CRITICAL)
    latency = time.perf_counter() - started
    tls: ssl.SSLObject = writer.get_extra_info("ssl_object")
    # The binary form, as a caller's context that does not verify gets no parsed one.
    certificate = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
    writer.close()
    await _closed(writer)
    return _judge_expiry(spec, certificate, latency, at)


def _judge_expiry(spec: TlsProbe, certificate: x509.Certificate, latency: float, at: datetime) -> ProbeResult:
    not_after = certificate.not_valid_after_utc
    days_left = (not_after - at) // timedelta(days=1)
    detail = {"days_left": days_left, "not_after": not_after.isoformat(), "server_name": spec.server_name or spec.host}
    severity = None
    if days_left <= spec.critical_days:
        severity = Severity.CRITICAL
    elif days_left <= spec.warn_days:
        severity = Severity.WARNING
    if severity is None:
        return ProbeResult(ProbeKind.TLS, spec.target, True, latency, at, detail=detail)
    days = "1 day" if days_left == 1 else f"{days_left} days"
    error = f"certificate expires in {days} ({not_after:%Y-%m-%d})"
    return ProbeResult(ProbeKind.TLS, spec.target, False, latency, at, error, detail, severity)


def _answer_text(text: str) -> str:
    return text.strip().rstrip(".").lower()


def _resolver(spec: DnsProbe) -> dns.asyncresolver.Resolver:
    if spec.nameserver is None:
        return dns.asyncresolver.Resolver()
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [spec.nameserver]
    resolver.port = spec.port
    return resolver


async def probe_dns(spec: DnsProbe, *, at: datetime) -> ProbeResult:
    def down(error: str) -> ProbeResult:
        return ProbeResult(ProbeKind.DNS, spec.target, False, None, at, error)

    kind = spec.record_type.upper()
    server = f" from {spec.nameserver}:{spec.port}" if spec.nameserver else ""
    started = time.perf_counter()
    try:
        answer = await _resolver(spec).resolve(dns.name.from_text(spec.name), kind, lifetime=spec.timeout)
    except dns.resolver.NXDOMAIN:
        return down(f"{spec.name} does not exist")
    except dns.resolver.NoAnswer:
        return down(f"{spec.name} has no {kind} record")
    except dns.exception.Timeout:
        return down(f"no answer{server} within {_seconds(spec.timeout)}")
    except dns.resolver.NoNameservers as exc:
        return down(f"no nameserver{server} answered for {spec.name}: {exc}")
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        return down(f"{spec.name} {kind}: {exc}")
    latency = time.perf_counter() - started
    answers = sorted(rdata.to_text() for rdata in answer)  # an RRset has no order
    seen = {_answer_text(a) for a in answers}
    missing = [e for e in spec.expected if _answer_text(e) not in seen]
    error = f"{spec.name} {kind} is {', '.join(answers)} (expected {', '.join(missing)})" if missing else ""
    return ProbeResult(ProbeKind.DNS, spec.target, not missing, latency, at, error, {"answers": answers})


async def run(
    spec: ProbeSpec,
    *,
    client: httpx.AsyncClient,
    at: datetime,
    context: ssl.SSLContext | None = None,
    pool: http1.Pool | None = None,
) -> ProbeResult:
    """The runner for the kind of `spec`."""
    match spec:
        case HttpProbe():
            return await probe_http(spec, client=client, at=at, pool=pool)
        case TcpProbe():
            return await probe_tcp(spec, at=at)
        case TlsProbe():
            return await probe_tls(spec, at=at, context=context)
        case DnsProbe():
            return await probe_dns(spec, at=at)
        case SipProbe():
            return await sip.options_probe(spec.host, spec.port, spec.transport, spec.timeout, user=spec.user, at=at)


KIND: dict[type[ProbeSpec], ProbeKind] = {
    HttpProbe: ProbeKind.HTTP,
    TcpProbe: ProbeKind.TCP,
    TlsProbe: ProbeKind.TLS,
    DnsProbe: ProbeKind.DNS,
    SipProbe: ProbeKind.SIP,
}
OVERALL_GRACE = 1.0  # seconds past a probe's own timeout before it is cut off


async def run_many(
    specs: Sequence[ProbeSpec],
    *,
    client: httpx.AsyncClient,
    clock: Clock,
    limit: int = 100,
    context: ssl.SSLContext | None = None,
) -> list[ProbeResult]:
    """Every probe, at most `limit` at once, each cut off a little after its
    own timeout; the results in the order of `specs`. A probe that breaks is a
    down result, so one bad probe never loses the others' results."""
    gate = asyncio.Semaphore(limit)

    async def one(spec: ProbeSpec) -> ProbeResult:
        async with gate:
            return await run_bounded(spec, client=client, at=clock.now(), context=context)

    return list(await asyncio.gather(*(one(spec) for spec in specs)))


async def run_bounded(
    spec: ProbeSpec,
    *,
    client: httpx.AsyncClient,
    at: datetime,
    context: ssl.SSLContext | None = None,
    pool: http1.Pool | None = None,
) -> ProbeResult:
    """`run`, cut off a little after the probe's own timeout; a probe that breaks is a down result."""
    return await _bounded(lambda: run(spec, client=client, at=at, context=context, pool=pool), spec, at)


async def _bounded(probe: Callable[[], Awaitable[ProbeResult]], spec: ProbeSpec, at: datetime) -> ProbeResult:
    try:
        async with asyncio.timeout(spec.timeout + OVERALL_GRACE):
            return await probe()
    except TimeoutError:
        error = f"no answer from {spec.target} within {_seconds(spec.timeout)}"
    except Exception as exc:  # a broken probe is a down result, not a lost batch
        error = f"the probe of {spec.target} failed: {type(exc).__name__}: {exc}"
    return ProbeResult(KIND[type(spec)], spec.target, False, None, at, error)


# -- options, as a check stores them -------------------------------------------------------

SPECS: dict[str, type[ProbeSpec]] = {kind.value: spec for spec, kind in KIND.items()}
_INTS = {"port", "warn_days", "critical_days"}
_NUMBERS = {"timeout", "max_latency"}
_FLAGS = {"keyword_absent", "follow_redirects"}


def spec_of(kind: str, options: Mapping[str, Any]) -> ProbeSpec:
    """The probe a check of `kind` with these options (`Check.settings`) runs; a ValueError
    that says what is wrong: an option the kind does not take, a missing or mistyped one,
    a URL that is not one, a port out of range."""
    spec = SPECS.get(kind)
    if spec is None:
        raise ValueError(f"{kind!r} is not a probe; one of: {', '.join(SPECS)}")
    known = [f.name for f in fields(spec)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"{_a(kind)} check has no option {unknown[0]!r}; it takes: {', '.join(known)}")
    needed = [f.name for f in fields(spec) if f.default is MISSING and f.name not in options]
    if needed:
        raise ValueError(f"{_a(kind)} check needs {' and '.join(needed)}")
    values = {name: _option(kind, name, value) for name, value in options.items()}
    if spec is HttpProbe:
        _check_url(str(values["url"]))
    try:
        return spec(**values)
    except TypeError as exc:  # a value the dataclass cannot take
        raise ValueError(f"a {kind} check's options: {exc}") from None


def _a(kind: str) -> str:
    return f"an {kind}" if kind == "http" else f"a {kind}"


def _option(kind: str, name: str, value: Any) -> Any:
    if value is None or name == "json_equals":
        return value
    wrong = ValueError(f"the {kind} option {name} cannot be {value!r}")
    if name in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
    elif name in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return float(value)
    elif name in _FLAGS:
        if not isinstance(value, bool):
            raise wrong
    elif name == "expected":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise wrong
        return tuple(value)
    elif name == "headers":
        pairs = list(value.items()) if isinstance(value, dict) else value
        if not isinstance(pairs, list | tuple) or not all(
            isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
        ):
            raise wrong
        return tuple((str(k), str(v)) for k, v in pairs)
    elif not isinstance(value, str) or not value.strip():
        raise wrong
    return value


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  (reading it checks it)
    except ValueError:
        raise ValueError(f"{url!r} has a port that is not between 0 and 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host, e.g. https://example.com/health")


def settings_of(spec: ProbeSpec) -> dict[str, Any]:
    """The options of `spec` as a check stores them (JSON): `spec_of` reads them back."""
    return {
        f.name: [list(v) if isinstance(v, tuple) else v for v in value] if isinstance(value, tuple) else value
        for f in fields(spec)
        for value in [getattr(spec, f.name)]
    }
