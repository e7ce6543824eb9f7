"""One page by telephone: ring a number through the operator's SIP trunk, say the text,
listen for a key, hang up, and say what happened (`CallOutcome`).

The user agent itself is in `agent`; this checks the arguments, makes the speech, opens
the sockets and closes them whatever happens.
"""

from __future__ import annotations

import asyncio
import re

from watchkeeper.checks.sip import Transport
from watchkeeper.errors import Invalid
from watchkeeper.notify.voice.agent import RtpReceiver, Script, UserAgent
from watchkeeper.notify.voice.media import EVENTS
from watchkeeper.notify.voice.outcome import CallOutcome, CallStatus, Trunk
from watchkeeper.notify.voice.speech import SpeechError, synthesise
from watchkeeper.notify.voice.transport import open_channel

_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
_HOST = re.compile(r"[A-Za-z0-9.:\-\[\]]+")


def _check(trunk: Trunk, to: str, ring_timeout: float, repeats: int, digits: str) -> Transport:
    if not _HOST.fullmatch(trunk.host):
        raise Invalid(f"trunk host {trunk.host!r} is not a host name or IP address")
    if not 0 < trunk.port < 65_536:
        raise Invalid(f"trunk port {trunk.port} is not between 1 and 65535")
    if not _USER.fullmatch(trunk.user):
        raise Invalid(f"trunk user {trunk.user!r} is not the user part of a SIP URI")
    if trunk.domain is not None and not _HOST.fullmatch(trunk.domain):
        raise Invalid(f"trunk domain {trunk.domain!r} is not a host name")
    if '"' in trunk.display_name or "\n" in trunk.display_name or "\r" in trunk.display_name:
        raise Invalid("the display name may not contain quotes or line breaks")
    number = to.removeprefix("sip:")
    user, _, host = number.partition("@")
    if not _USER.fullmatch(user) or (host and not _HOST.fullmatch(host)):
        raise Invalid(f"{to!r} is not a number, a SIP user or a sip: URI to call")
    if not ring_timeout > 0:
        raise Invalid(f"ring timeout {ring_timeout} must be more than 0 seconds")
    if repeats < 1:
        raise Invalid(f"repeats {repeats} must be at least 1")
    if not digits or any(key not in EVENTS for key in digits.upper()):
        raise Invalid(f"digits {digits!r} must be telephone keys (0-9, *, #, A-D)")
    try:
        return Transport(trunk.transport.lower())
    except ValueError:
        raise Invalid(f"trunk transport {trunk.transport!r} is not one of: udp, tcp") from None


async def place_call(
    trunk: Trunk,
    to: str,
    text: str,
    *,
    ring_timeout: float = 30,
    repeats: int = 2,
    digits: str = "12",
    gap: float = 1.0,
    listen: float = 5.0,
) -> CallOutcome:
    """Ring `to` (a number or SIP user at the trunk's domain, or a sip: URI) through `trunk`,
    say `text` up to `repeats` times once answered, and stop at the first of `digits` pressed.

    Bad arguments raise `Invalid`; anything the network, the trunk or the phone does is an
    outcome, never an exception."""
    kind = _check(trunk, to, ring_timeout, repeats, digits)
    try:
        audio = await synthesise(text)
    except SpeechError as exc:
        return CallOutcome(CallStatus.FAILED, f"the message could not be said: {exc}")
    host = trunk.host.removeprefix("[").removesuffix("]")
    try:
        channel = await open_channel(host, trunk.port, kind)
    except OSError as exc:
        return CallOutcome(CallStatus.FAILED, f"{trunk.host}:{trunk.port} over {kind.value}: {exc.strerror or exc}")
    loop = asyncio.get_running_loop()
    rtp: asyncio.DatagramTransport | None = None
    call = UserAgent(trunk, kind, channel, to, audio)
    pump = asyncio.create_task(call.pump())
    try:
        rtp, receiver = await loop.create_datagram_endpoint(RtpReceiver, local_addr=(channel.local[0], 0))
        return await call.run(rtp, receiver, ring_timeout, Script(repeats, digits.upper(), gap, listen))
    except OSError as exc:
        return CallOutcome(CallStatus.FAILED, f"{trunk.host}:{trunk.port} over {kind.value}: {exc.strerror or exc}")
    finally:
        for task in (pump, *call.background):
            task.cancel()
        await asyncio.gather(pump, *call.background, return_exceptions=True)
        if rtp is not None:
            rtp.close()
        await channel.close()
