"""What a probe found, whatever its kind: one result type for HTTP, TCP, TLS, DNS and SIP OPTIONS."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from watchkeeper.finding import Severity


class ProbeKind(StrEnum):
    HTTP = "http"
    TCP = "tcp"
    TLS = "tls"
    DNS = "dns"
    SIP = "sip"


@dataclass(frozen=True)
class ProbeResult:
    """`latency` is in seconds, None when nothing answered; `error` says why it is down
    ("" when up); `detail` carries what the kind adds (an HTTP or SIP status code and
    reason, a certificate's days left, DNS answers)."""

    kind: ProbeKind
    target: str  # what a person calls it: a host, host:port, a name
    up: bool
    latency: float | None
    observed_at: datetime
    error: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # what a finding for this result should be; None: the default

    @property
    def status(self) -> int | None:
        """The protocol's status code (HTTP, SIP), when it answered with one."""
        code = self.detail.get("status")
        return code if isinstance(code, int) else None
