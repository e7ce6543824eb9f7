"""What a page by telephone is given (the trunk) and what it comes to (the outcome)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from watchkeeper.checks.sip import Response

_BUSY = {486, 600}
_NO_ANSWER = {408, 480, 487}


class CallStatus(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True)
class Trunk:
    """The operator's SIP trunk or PBX: its registrar/proxy, and the account pages are sent as."""

    host: str
    port: int = 5060
    transport: str = "udp"
    user: str = "watchkeeper"
    password: str = ""
    display_name: str = "watchkeeper"
    domain: str | None = None  # the domain of the From and To URIs; the host when not given


@dataclass(frozen=True)
class CallOutcome:
    """What one call came to. `code` is the SIP status of the INVITE's final answer (None if
    there was none), `digit` the key pressed (only when answered), `ring_seconds` from the
    INVITE to its final answer or the give-up, `talk_seconds` from the answer to the hang-up."""

    status: CallStatus
    reason: str
    code: int | None = None
    digit: str | None = None
    ring_seconds: float = 0.0
    talk_seconds: float = 0.0

    @property
    def answered(self) -> bool:
        return self.status is CallStatus.ANSWERED


def refused(final: Response) -> CallOutcome:
    """The outcome of an INVITE whose final answer refused it (3xx to 6xx)."""
    said = f"{final.status} {final.reason}".strip()
    if final.status in (401, 407):
        return CallOutcome(CallStatus.FAILED, f"the trunk refused the credentials: {said}", final.status)
    if final.status in _BUSY:
        return CallOutcome(CallStatus.BUSY, said, final.status)
    if final.status in _NO_ANSWER:
        return CallOutcome(CallStatus.NO_ANSWER, said, final.status)
    return CallOutcome(CallStatus.REJECTED, said, final.status)
