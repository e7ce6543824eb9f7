"""The voice channel escalations page through: one trunk, set as a URL, and what a call means for a page.

`WATCHKEEPER_VOICE_TRUNK` names the operator's trunk or PBX as a URL:
`sip://USER:PASSWORD@HOST[:PORT][?transport=tcp&domain=DOMAIN&name=DISPLAY]`.
A page is acknowledged when the callee presses 1, and escalated at once to
the next level when they press 2 (the message says both); any other outcome
(busy, no answer, answered without a key) is neither, and the escalation goes
on at its pace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from watchkeeper.errors import Invalid
from watchkeeper.notify.voice.call import place_call
from watchkeeper.notify.voice.outcome import CallOutcome, CallStatus, Trunk

ACK_KEY = "1"
ESCALATE_KEY = "2"


def trunk_from_url(url: str) -> Trunk:
    """The trunk a `sip://user:password@host:port?transport=udp` URL names; Invalid saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme != "sip" or not parts.hostname:
        raise Invalid(f"a voice trunk is sip://USER:PASSWORD@HOST[:PORT][?transport=tcp], not {_redacted(url)!r}")
    try:
        port = 5060 if parts.port is None else parts.port
    except ValueError:  # not a number, or out of range
        port = 0
    if not 0 < port < 65536:
        raise Invalid(f"the voice trunk's port is 1 to 65535: {_redacted(url)!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"transport", "domain", "name"}
    if unknown:
        raise Invalid(f"the voice trunk URL takes transport, domain and name, not {', '.join(sorted(unknown))}")
    transport = query.get("transport", "udp").lower()
    if transport not in ("udp", "tcp"):
        raise Invalid(f"the voice trunk's transport is udp or tcp, not {transport!r}")
    return Trunk(
        host=parts.hostname,
        port=port,
        transport=transport,
        user=unquote(parts.username or "watchkeeper"),
        password=unquote(parts.password or ""),
        display_name=query.get("name", "watchkeeper"),
        domain=query.get("domain"),
    )


def _redacted(url: str) -> str:
    """The URL without its user and password, however it is written (`sip:user:pw@host` too)."""
    return re.sub(r"^([a-z][a-z0-9+.-]*:(?://)?)[^/?#]*@", r"\1", url.strip(), flags=re.IGNORECASE)


@dataclass(frozen=True)
class Answered:
    """What a page by telephone came to: acknowledged (1 pressed), escalated (2 pressed), or why neither."""

    acknowledged: bool
    reason: str
    escalated: bool = False


@dataclass(frozen=True)
class TrunkDialer:
    """Rings the paged person through the trunk; pressing 1 acknowledges the page, 2 escalates it."""

    trunk: Trunk
    ring_timeout: float = 30

    async def place_call(self, to: str, text: str) -> Answered:
        keys = ACK_KEY + ESCALATE_KEY
        outcome = await place_call(self.trunk, to, spoken(text), ring_timeout=self.ring_timeout, digits=keys)
        if outcome.digit == ACK_KEY:
            return Answered(True, f"DTMF {ACK_KEY}")
        if outcome.digit == ESCALATE_KEY:
            return Answered(False, f"DTMF {ESCALATE_KEY}", escalated=True)
        return Answered(False, why_not(outcome))


def spoken(title: str) -> str:
    """What the callee hears for a page titled `title` ("[high] incident 4: ..."), and the keys to press."""
    said = re.sub(r"^\[(\w+)\]\s*", r"\1 urgency ", title.strip()).rstrip(".")
    return f"watchkeeper, {said}. Press {ACK_KEY} to acknowledge, {ESCALATE_KEY} to escalate."


def why_not(outcome: CallOutcome) -> str:
    """Why a call did not acknowledge, naming what it came to: a phone that rejects the call
    answers "486 Rejected" or "486 Busy Here", and either is busy to the person reading."""
    words = outcome.status.value.replace("-", " ")
    if outcome.status in (CallStatus.ANSWERED, CallStatus.FAILED) or outcome.reason.lower().startswith(words):
        return outcome.reason
    return f"{words}: {outcome.reason}"
