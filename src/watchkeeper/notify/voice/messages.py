"""The SIP requests a page sends and the responses it gives (RFC 3261 8.1, 8.2.6, 12, 17)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from watchkeeper.checks.sip import Request, Response, Transport

USER_AGENT = "watchkeeper"
ALLOW = "INVITE, ACK, CANCEL, BYE, INFO, OPTIONS"
_ANGLE = re.compile(r"<([^>]*)>")
_TAG = re.compile(r";\s*tag\s*=\s*([^;\s>]+)", re.IGNORECASE)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


def uri_of(value: str) -> str:
    """The URI in a name-addr (`"Name" <sip:a@b>;tag=x`) or an addr-spec (`sip:a@b`)."""
    found = _ANGLE.search(value)
    return found.group(1) if found else value.split(";")[0].strip()


def tag_of(value: str | None) -> str | None:
    if value is None:
        return None
    found = _TAG.search(value.split(">", 1)[-1] if ">" in value else value)
    return found.group(1) if found else None


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass
class Dialog:
    """What the requests of one call share (RFC 3261 12.1.2): the ids, the route set learnt
    from the answer's Record-Route, the far end's Contact, and the local CSeq."""

    kind: Transport
    local: tuple[str, int]
    from_value: str
    request_uri: str
    to_value: str
    user: str
    call_id: str = field(default_factory=lambda: secrets.token_hex(16) + "@watchkeeper")
    cseq: int = 1
    remote_tag: str | None = None
    remote_target: str | None = None
    route_set: list[str] = field(default_factory=list)

    @property
    def contact(self) -> str:
        on_tcp = ";transport=tcp" if self.kind is Transport.TCP else ""
        return f"<sip:{self.user}@{_host(self.local[0])}:{self.local[1]}{on_tcp}>"

    def via(self, branch: str) -> str:
        return f"SIP/2.0/{self.kind.value.upper()} {_host(self.local[0])}:{self.local[1]};branch={branch};rport"

    def to_header(self, remote_tag: str | None) -> str:
        return f"{self.to_value};tag={remote_tag}" if remote_tag else self.to_value

    def establish(self, answer: Response) -> None:
        self.remote_tag = tag_of(answer.get("to"))
        contact = answer.get("contact")
        self.remote_target = uri_of(contact) if contact else self.request_uri
        self.route_set = list(reversed(answer.get_all("record-route")))


def encode(start: str, headers: list[tuple[str, str]], body: bytes = b"", content_type: str | None = None) -> bytes:
    lines = [start, *(f"{name}: {value}" for name, value in headers)]
    if body and content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def invite(dialog: Dialog, branch: str, sdp: bytes, auth: tuple[str, str] | None) -> bytes:
    headers = [
        ("Via", dialog.via(branch)),
        ("Max-Forwards", "70"),
        ("From", dialog.from_value),
        ("To", dialog.to_value),
        ("Call-ID", dialog.call_id),
        ("CSeq", f"{dialog.cseq} INVITE"),
        ("Contact", dialog.contact),
        ("Allow", ALLOW),
        ("User-Agent", USER_AGENT),
    ]
    if auth is not None:
        headers.append(auth)
    return encode(f"INVITE {dialog.request_uri} SIP/2.0", headers, sdp, "application/sdp")


def ack_failure(dialog: Dialog, branch: str, final: Response) -> bytes:
    """The ACK of a non-2xx final answer: part of the INVITE's transaction, so the same branch
    and Request-URI, and the To of the answer (RFC 3261 17.1.1.3)."""
    headers = [
        ("Via", dialog.via(branch)),
        ("Max-Forwards", "70"),
        ("From", dialog.from_value),
        ("To", final.get("to") or dialog.to_value),
        ("Call-ID", dialog.call_id),
        ("CSeq", f"{dialog.cseq} ACK"),
    ]
    return encode(f"ACK {dialog.request_uri} SIP/2.0", headers)


def cancel(dialog: Dialog, branch: str) -> bytes:
    """RFC 3261 9.1: the INVITE's Request-URI, Call-ID, From, To, CSeq number and branch."""
    headers = [
        ("Via", dialog.via(branch)),
        ("Max-Forwards", "70"),
        ("From", dialog.from_value),
        ("To", dialog.to_value),
        ("Call-ID", dialog.call_id),
        ("CSeq", f"{dialog.cseq} CANCEL"),
        ("User-Agent", USER_AGENT),
    ]
    return encode(f"CANCEL {dialog.request_uri} SIP/2.0", headers)


def in_dialog(dialog: Dialog, method: str, branch: str, cseq: int) -> bytes:
    """An ACK of a 2xx or a BYE: to the far end's Contact, through the route set (12.2.1.1)."""
    headers = [
        ("Via", dialog.via(branch)),
        ("Max-Forwards", "70"),
        *(("Route", route) for route in dialog.route_set),
        ("From", dialog.from_value),
        ("To", dialog.to_header(dialog.remote_tag)),
        ("Call-ID", dialog.call_id),
        ("CSeq", f"{cseq} {method}"),
        ("User-Agent", USER_AGENT),
    ]
    return encode(f"{method} {dialog.remote_target or dialog.request_uri} SIP/2.0", headers)


def reply(request: Request, status: int, reason: str, local_tag: str | None = None) -> bytes:
    """A response to `request` (RFC 3261 8.2.6.2): its Vias, From, Call-ID and CSeq, and its To
    with our tag when it had none."""
    to = request.get("to") or ""
    if local_tag and tag_of(to) is None:
        to = f"{to};tag={local_tag}"
    headers = [
        *(("Via", via) for via in request.vias),
        ("From", request.get("from") or ""),
        ("To", to),
        ("Call-ID", request.get("call-id") or ""),
        ("CSeq", request.get("cseq") or ""),
        ("User-Agent", USER_AGENT),
    ]
    return encode(f"SIP/2.0 {status} {reason}", headers)
