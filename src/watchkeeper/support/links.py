"""Signed, expiring answer links for customer enquiries. Pure.

A link carries the enquiry's number, the answer it stands for and when it
expires, signed with HMAC-SHA256 under the server's secret. Without the
right signature a link is refused with the same words whether the enquiry
exists or not, so guessing numbers learns nothing. That a link is used once
is the enquiry's business (it records its answer), not the link's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

REFUSED = "This link is not valid or has expired."


class Answer(StrEnum):
    EXPECTED = "expected"  # we are testing / it is planned
    NOT_EXPECTED = "not_expected"  # please investigate


class InvalidLink(ValueError):
    def __init__(self) -> None:
        super().__init__(REFUSED)


@dataclass(frozen=True)
class Signed:
    enquiry_id: int
    answer: Answer
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"watchkeeper-enquiry:" + payload, hashlib.sha256).digest()


def sign(secret: bytes, enquiry_id: int, answer: Answer, expires_at: datetime) -> str:
    payload = f"{enquiry_id}:{answer}:{int(expires_at.timestamp())}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(secret: bytes, token: str, now: datetime) -> Signed:
    """The signed facts of a token, or InvalidLink (one message for every failure)."""
    try:
        payload_text, mac_text = token.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, TypeError) as exc:
        raise InvalidLink() from exc
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidLink()
    enquiry, answer, expires = payload.decode().split(":")
    expires_at = datetime.fromtimestamp(int(expires), UTC)
    if now >= expires_at:
        raise InvalidLink()
    return Signed(int(enquiry), Answer(answer), expires_at)


def sign_parts(secret: bytes, purpose: str, parts: tuple[str, ...], expires_at: datetime) -> str:
    """A link token for other purposes than enquiries (a page's acknowledge link): `parts`, signed
    with the purpose in the MAC, so a token made for one purpose opens nothing of another."""
    if any(":" in part for part in parts):
        raise ValueError("a signed part holds no ':'")
    payload = ":".join((*parts, str(int(expires_at.timestamp())))).encode()
    mac = hmac.new(secret, f"watchkeeper-{purpose}:".encode() + payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify_parts(secret: bytes, purpose: str, token: str, now: datetime, count: int) -> tuple[str, ...]:
    """The `count` parts of a `sign_parts` token, or InvalidLink (one message for every failure)."""
    try:
        payload_text, mac_text = token.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, TypeError) as exc:
        raise InvalidLink() from exc
    expected = hmac.new(secret, f"watchkeeper-{purpose}:".encode() + payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise InvalidLink()
    *parts, expires = payload.decode().split(":")
    if len(parts) != count or now >= datetime.fromtimestamp(int(expires), UTC):
        raise InvalidLink()
    return tuple(parts)
