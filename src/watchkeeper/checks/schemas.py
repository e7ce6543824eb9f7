"""The API's shapes of a check (a heartbeat or a probe), its pings and its probe results, and of a PBX and its looks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from watchkeeper.checks.models import CheckKind, CheckStatus, PingKind, ScheduleKind
from watchkeeper.checks.probes import DnsProbe, HttpProbe, SipProbe, TcpProbe, TlsProbe

YEAR = 366 * 86400
DAY = 86400


class CheckIn(BaseModel):
    """A heartbeat check: `kind` may be left out."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["heartbeat"] = "heartbeat"
    name: str = Field(min_length=1, max_length=200)
    schedule: ScheduleKind = ScheduleKind.PERIOD
    period_seconds: int = Field(default=86400, ge=60, le=YEAR, description="for a period schedule")
    grace_seconds: int = Field(default=3600, ge=0, le=YEAR, description="how late a ping may be")
    expression: str | None = Field(
        default=None, max_length=200, description="cron ('30 2 * * *') or OnCalendar ('Mon..Fri *-*-* 02:30')"
    )
    tz: str = Field(default="UTC", max_length=64, description="IANA time zone of a cron or OnCalendar schedule")
    service: str | None = Field(default=None, max_length=200, description="the service or host it watches")
    customer: str | None = Field(default=None, max_length=100, description="whose it is")
    labels: dict[str, str] = Field(default_factory=dict, max_length=50)
    success_keywords: list[str] = Field(default_factory=list, max_length=20)
    failure_keywords: list[str] = Field(default_factory=list, max_length=20)
    slug: str | None = Field(default=None, max_length=200)
    ping_key: str | None = Field(default=None, max_length=64, description="for slug URLs /ping/<key>/<slug>")


class ProbeIn(BaseModel):
    """What every probe check has; each kind adds the options of its probe."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    name: str = Field(min_length=1, max_length=200)
    interval_seconds: int = Field(default=60, ge=10, le=DAY, description="how often it runs")
    fail_after: int = Field(default=2, ge=1, le=100, description="failures in a row that make it down")
    recover_after: int = Field(default=1, ge=1, le=100, description="successes in a row that make it up again")
    service: str | None = Field(default=None, max_length=200, description="the service or host it watches")
    customer: str | None = Field(default=None, max_length=100, description="whose it is")
    labels: dict[str, str] = Field(default_factory=dict, max_length=50)

    def options(self) -> dict[str, Any]:
        """The probe's options as given (Check.settings); the probe's defaults fill the rest."""
        common = set(ProbeIn.model_fields)
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if k not in common}


Timeout = Field(gt=0, le=120, description="seconds it waits for an answer")
Port = Field(ge=1, le=65535)
Text = Field(min_length=1, max_length=253)


class HttpCheckIn(ProbeIn):
    kind: Literal["http"]
    url: str = Field(min_length=1, max_length=2000, description="http:// or https://")
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    expected_status: str = Field(
        default=HttpProbe.expected_status, max_length=100, description="codes that are up: 200-399, 200,204, 2xx"
    )
    keyword: str | None = Field(default=None, max_length=200, description="the body must hold it")
    keyword_absent: bool = Field(default=False, description="the keyword must not appear instead")
    json_path: str | None = Field(default=None, max_length=200, description="a dotted path into a JSON body")
    json_equals: Any = Field(default=None, description="the value at json_path")
    max_latency: float | None = Field(default=None, gt=0, le=120, description="seconds; slower is down")
    follow_redirects: bool = HttpProbe.follow_redirects
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    timeout: Annotated[float, Timeout] = HttpProbe.timeout


class TcpCheckIn(ProbeIn):
    kind: Literal["tcp"]
    host: Annotated[str, Text]
    port: Annotated[int, Port]
    timeout: Annotated[float, Timeout] = TcpProbe.timeout


class TlsCheckIn(ProbeIn):
    kind: Literal["tls"]
    host: Annotated[str, Text]
    port: Annotated[int, Port] = TlsProbe.port
    server_name: str | None = Field(default=None, max_length=253, description="the name the certificate is for")
    warn_days: int = Field(default=TlsProbe.warn_days, ge=0, le=3650, description="a warning this near expiry")
    critical_days: int = Field(default=TlsProbe.critical_days, ge=0, le=3650, description="critical this near")
    timeout: Annotated[float, Timeout] = TlsProbe.timeout


class DnsCheckIn(ProbeIn):
    kind: Literal["dns"]
    name_to_resolve: str = Field(alias="resolve", min_length=1, max_length=253, description="the name it resolves")
    record_type: str = Field(default=DnsProbe.record_type, max_length=10)
    expected: list[str] = Field(default_factory=list, max_length=20, description="answers that must be among those")
    nameserver: str | None = Field(default=None, max_length=253, description="asked instead of the system's")
    port: Annotated[int, Port] = DnsProbe.port
    timeout: Annotated[float, Timeout] = DnsProbe.timeout

    def options(self) -> dict[str, Any]:
        options = super().options()
        options["name"] = options.pop("name_to_resolve")
        return options


class SipCheckIn(ProbeIn):
    kind: Literal["sip"]
    host: Annotated[str, Text]
    port: Annotated[int, Port] = SipProbe.port
    transport: Literal["udp", "tcp"] = "udp"
    timeout: Annotated[float, Timeout] = SipProbe.timeout
    user: str | None = Field(default=None, max_length=100, description="OPTIONS to sip:user@host")

    def options(self) -> dict[str, Any]:
        # A SIP check stores all five of its options, whatever was given.
        return {
            "host": self.host,
            "port": self.port,
            "transport": self.transport,
            "timeout": self.timeout,
            "user": self.user,
        }


def _kind(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("kind", "heartbeat"))
    return str(getattr(body, "kind", "heartbeat"))


NewCheck = Annotated[
    Annotated[CheckIn, Tag("heartbeat")]
    | Annotated[HttpCheckIn, Tag("http")]
    | Annotated[TcpCheckIn, Tag("tcp")]
    | Annotated[TlsCheckIn, Tag("tls")]
    | Annotated[DnsCheckIn, Tag("dns")]
    | Annotated[SipCheckIn, Tag("sip")],
    Discriminator(_kind),
]


class ProbeResultOut(BaseModel):
    at: datetime
    up: bool
    latency: float | None = Field(description="seconds; none when nothing answered")
    status: int | None = Field(description="the HTTP or SIP status code")
    reason: str = Field(description="why it was down, or the answer's reason phrase")


class PingOut(BaseModel):
    at: datetime
    kind: PingKind
    exit_status: int | None
    rid: str | None
    body: str = Field(description="the first 100 KB of the body, as text")
    user_agent: str
    source: str
    duration_seconds: float | None = Field(description="the run this ping finished, from its start")


class CheckOut(BaseModel):
    name: str
    uuid: str
    slug: str
    ping_key: str | None
    kind: CheckKind
    status: CheckStatus
    schedule: ScheduleKind
    period_seconds: int
    grace_seconds: int
    expression: str | None
    tz: str
    service: str | None
    customer: str | None
    labels: dict[str, str]
    success_keywords: list[str]
    failure_keywords: list[str]
    due_at: datetime | None = Field(description="the deadline: late after it")
    last_ping_at: datetime | None
    last_duration_seconds: float | None
    created_at: datetime
    settings: dict[str, Any] = Field(description="a probe's options")
    fail_after: int
    recover_after: int
    last_run_at: datetime | None = Field(description="a probe's last run")
    last_up: bool | None
    last_latency: float | None = Field(description="seconds")
    last_error: str | None


class CheckShown(CheckOut):
    pings: list[PingOut] = Field(description="the last pings, newest first")
    results: list[ProbeResultOut] = Field(description="a probe's last results, newest first")


class PbxIn(BaseModel):
    name: str = Field(min_length=1, max_length=190)
    ami: str = Field(min_length=1, max_length=300, description="the manager interface, HOST[:5038]")
    ami_user: str = Field(min_length=1, max_length=200, description="the manager.conf user")
    ami_secret: str = Field(min_length=1, max_length=200, description="its secret: stored sealed, never shown")
    sip: str | None = Field(default=None, max_length=300, description="SIP OPTIONS to HOST[:5060]: the parent check")
    sip_transport: Literal["udp", "tcp"] = "udp"
    config_files: list[str] = Field(default_factory=list, max_length=20, description="files whose changes to note")
    customer: str | None = Field(default=None, max_length=100, description="whose it is")
    service: str | None = Field(default=None, max_length=200, description="the service it carries")
    interval_seconds: int = Field(default=60, ge=60, le=86400, description="how often to look")
    timezone: str = Field(default="UTC", max_length=64, description="the PBX's own zone, of CoreStatus's times")
    timeout: float = Field(default=5.0, ge=0.1, le=30, description="seconds to wait for each answer")
    chan_sip: bool = Field(default=False, description="also read chan_sip's registrations")


class PbxOut(BaseModel):
    name: str
    status: CheckStatus
    ami: str
    ami_user: str
    sip: str | None
    sip_transport: str | None
    options_check: str | None = Field(description="the SIP OPTIONS check whose alert mutes this PBX's")
    config_files: list[str]
    zone: str
    interval_seconds: int
    service: str | None
    customer: str | None
    due_at: datetime | None = Field(description="the next look")
    last_look_at: datetime | None
    created_at: datetime


class TrunkOut(BaseModel):
    name: str
    status: str
    detail: str


class SnapshotOut(BaseModel):
    at: datetime
    started_at: datetime
    reloaded_at: datetime
    trunks: list[TrunkOut]
    config_hashes: dict[str, str | None] = Field(description="SHA-256 of each file's GetConfig; null: not readable")
    channels: int
    calls: int


class ReadingOut(BaseModel):
    at: datetime
    channels: int = Field(description="active channels (CoreShowChannels)")
    calls: int = Field(description="calls in progress (CoreStatus's CoreCurrentCalls)")


class ChangeOut(BaseModel):
    at: datetime
    change: str


class PbxShown(PbxOut):
    snapshot: SnapshotOut | None = Field(description="the last look that answered")
    readings: list[ReadingOut] = Field(description="channels and calls at each look, oldest first")
    changes: list[ChangeOut] = Field(description="restarts, reloads and changed files, newest first")
