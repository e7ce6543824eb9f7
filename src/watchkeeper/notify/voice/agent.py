"""The user agent of one outbound call (RFC 3261 as a page needs it): the INVITE client
transaction with its digest challenge answered once, CANCEL at the ring timeout, the ACK of
every final answer, BYE either way, 200 to the far end's INFO and OPTIONS; and the media,
one RTP stream of PCMU out and RFC 4733 telephone-events in."""

from __future__ import annotations

import asyncio
import secrets
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from watchkeeper.checks.sip import T1, T2, Request, Response, Transport
from watchkeeper.clock import monotonic
from watchkeeper.notify.voice import messages, sdp
from watchkeeper.notify.voice.digest import DigestError, authorization, parse_challenge
from watchkeeper.notify.voice.media import (
    FRAME,
    PCMU,
    SAMPLE_RATE,
    SILENCE,
    KeyPresses,
    RtpError,
    RtpPacket,
    dtmf_relay_key,
    frames,
    parse_rtp,
)
from watchkeeper.notify.voice.outcome import CallOutcome, CallStatus, Trunk, refused
from watchkeeper.notify.voice.transport import Channel, Message

TIMER_B = 64 * T1  # RFC 3261 17.1.1.2: an INVITE with no answer at all has failed
HANGUP_WAIT = 4.0  # how long a BYE or CANCEL waits for its answer before the call is let go


@dataclass(frozen=True)
class Script:
    """What is said once answered: the message `repeats` times, `gap` seconds apart, then
    `listen` seconds of silence for a late key; the keys that end it."""

    repeats: int
    digits: str
    gap: float
    listen: float


class RtpReceiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: asyncio.Queue[tuple[RtpPacket, tuple[str | int, ...]]] = asyncio.Queue(maxsize=1_000)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        with suppress(RtpError, asyncio.QueueFull):
            self.packets.put_nowait((parse_rtp(data), addr))

    def error_received(self, exc: Exception) -> None:
        pass


class _Lost(Exception):
    """The connection to the trunk is closed: nothing more will come in or go out."""


class UserAgent:
    def __init__(self, trunk: Trunk, kind: Transport, channel: Channel, to: str, audio: bytes) -> None:
        self.trunk, self.kind, self.channel, self.audio = trunk, kind, channel, audio
        domain = trunk.domain or trunk.host
        uri = to if to.startswith("sip:") else f"sip:{to}@{domain}"
        self.local_tag = secrets.token_hex(8)
        self.dialog = messages.Dialog(
            kind=kind,
            local=channel.local,
            from_value=f'"{trunk.display_name}" <sip:{trunk.user}@{domain}>;tag={self.local_tag}',
            request_uri=uri,
            to_value=f"<{uri}>",
            user=trunk.user,
        )
        self.answers: dict[tuple[str, str], asyncio.Queue[Response]] = {}
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self.hung_up = asyncio.Event()
        self.ack: bytes | None = None
        self.background: set[asyncio.Task[Response | None]] = set()

    # --- the messages that come in -------------------------------------------------------

    async def pump(self) -> None:
        while True:
            message: Message = await self.channel.incoming.get()
            if isinstance(message, Response):
                self._on_response(message)
            else:
                self._on_request(message)

    def _on_response(self, response: Response) -> None:
        cseq = response.cseq
        if response.get("call-id") != self.dialog.call_id or cseq is None or response.branch is None:
            return
        if cseq[1] == "INVITE" and 200 <= response.status < 300 and self.ack is not None:
            self.channel.send(self.ack)  # the 200 again: our ACK was lost (RFC 3261 13.2.2.4)
            return
        queue = self.answers.get((response.branch, cseq[1]))
        if queue is not None:
            queue.put_nowait(response)

    def _on_request(self, request: Request) -> None:
        if request.method == "ACK":
            return
        if request.get("call-id") != self.dialog.call_id:
            self.channel.send(messages.reply(request, 481, "Call/Transaction Does Not Exist"))
            return
        if request.method == "BYE":
            self.channel.send(messages.reply(request, 200, "OK"))
            self.hung_up.set()
        elif request.method == "INFO":
            self.channel.send(messages.reply(request, 200, "OK"))
            key = dtmf_relay_key(request.get("content-type") or "", request.body)
            if key is not None:
                self.keys.put_nowait(key)
        elif request.method in ("OPTIONS", "NOTIFY", "UPDATE"):
            self.channel.send(messages.reply(request, 200, "OK"))
        else:
            self.channel.send(messages.reply(request, 501, "Not Implemented"))

    # --- client transactions ----------------------------------------------------------

    async def _get(self, queue: asyncio.Queue[Response], timeout: float) -> Response:
        """The next answer of a transaction; TimeoutError after `timeout`, _Lost if the
        connection to the trunk closes first."""
        if self.channel.lost.is_set():
            raise _Lost
        getting = asyncio.ensure_future(queue.get())
        losing = asyncio.ensure_future(self.channel.lost.wait())
        try:
            done, _ = await asyncio.wait({getting, losing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getting.cancel()
            losing.cancel()
        if getting in done:
            return getting.result()
        if losing in done:
            raise _Lost
        raise TimeoutError

    def _listen(self, branch: str, method: str) -> asyncio.Queue[Response]:
        queue: asyncio.Queue[Response] = asyncio.Queue()
        self.answers[(branch, method)] = queue
        return queue

    async def _non_invite(self, data: bytes, branch: str, method: str) -> Response | None:
        """Send a BYE or CANCEL, retransmitted over UDP (17.1.2.2), and wait for its final answer."""
        queue = self._listen(branch, method)
        interval, deadline = T1, monotonic() + HANGUP_WAIT
        self.channel.send(data)
        while (left := deadline - monotonic()) > 0:
            try:
                answer = await self._get(queue, min(interval, left))
            except _Lost:
                return None
            except TimeoutError:
                if self.kind is Transport.UDP:
                    self.channel.send(data)
                interval = min(2 * interval, T2)
                continue
            if answer.final:
                return answer
            interval = T2
        return None

    # --- the call -----------------------------------------------------------------------

    async def run(
        self, rtp: asyncio.DatagramTransport, receiver: RtpReceiver, ring_timeout: float, script: Script
    ) -> CallOutcome:
        started = monotonic()
        name = rtp.get_extra_info("sockname")
        offer = sdp.offer(str(name[0]), int(name[1]), secrets.randbelow(2**31))
        result = await self._invite(offer, ring_timeout, started)
        ring = monotonic() - started
        if isinstance(result, CallOutcome):
            return CallOutcome(result.status, result.reason, result.code, None, ring, 0.0)
        try:
            answer = sdp.parse_answer(result.body)
        except sdp.SdpError as exc:
            await self._bye()
            return CallOutcome(CallStatus.FAILED, f"answered, but {exc}", result.status, None, ring, 0.0)
        answered = monotonic()
        digit, reason = await self._talk(rtp, receiver, answer, script)
        if not self.hung_up.is_set() and not self.channel.lost.is_set():
            await self._bye()
        return CallOutcome(CallStatus.ANSWERED, reason, result.status, digit, ring, monotonic() - answered)

    async def _invite(self, offer: bytes, ring_timeout: float, started: float) -> Response | CallOutcome:
        auth: tuple[str, str] | None = None
        while True:
            branch = messages.new_branch()
            data = messages.invite(self.dialog, branch, offer, auth)
            final = await self._ring(data, branch, started + ring_timeout, ring_timeout)
            if isinstance(final, CallOutcome) or final.status < 300:
                return final
            self.channel.send(messages.ack_failure(self.dialog, branch, final))
            if final.status in (401, 407) and auth is None:
                header = "WWW-Authenticate" if final.status == 401 else "Proxy-Authenticate"
                try:
                    challenge = parse_challenge(final.get(header) or "")
                except DigestError as exc:
                    return CallOutcome(CallStatus.FAILED, f"the trunk asks for credentials: {exc}", final.status)
                value = authorization(
                    challenge,
                    user=self.trunk.user,
                    password=self.trunk.password,
                    method="INVITE",
                    uri=self.dialog.request_uri,
                )
                auth = ("Authorization" if final.status == 401 else "Proxy-Authorization", value)
                self.dialog.cseq += 1
                continue
            return refused(final)

    async def _ring(
        self, data: bytes, branch: str, ring_deadline: float, ring_timeout: float
    ) -> Response | CallOutcome:
        """The INVITE client transaction: retransmit until a provisional answer (Timer A),
        give up without any answer (Timer B), CANCEL once it has rung `ring_timeout` seconds."""
        queue = self._listen(branch, "INVITE")
        sent = monotonic()
        interval, proceeding, cancelled = T1, False, False
        given_up = ring_deadline + HANGUP_WAIT  # the 487 a CANCEL brings is waited for this long
        self.channel.send(data)
        while True:
            now = monotonic()
            wake = [given_up if cancelled else ring_deadline]
            if not proceeding:
                wake += [now + interval, sent + TIMER_B]
            try:
                answer = await self._get(queue, max(min(wake) - now, 0))
            except _Lost:
                return CallOutcome(CallStatus.FAILED, "the trunk closed the connection before a final answer")
            except TimeoutError:
                now = monotonic()
                if cancelled:
                    return CallOutcome(CallStatus.NO_ANSWER, f"no answer within {ring_timeout:g} s")
                if not proceeding and now >= sent + TIMER_B:
                    return CallOutcome(CallStatus.FAILED, f"the trunk did not answer the INVITE within {TIMER_B:g} s")
                if now >= ring_deadline:
                    if not proceeding:
                        return CallOutcome(CallStatus.FAILED, f"the trunk did not answer within {ring_timeout:g} s")
                    cancelled, given_up = True, now + HANGUP_WAIT
                    cancel = messages.cancel(self.dialog, branch)
                    cancelling = asyncio.create_task(self._non_invite(cancel, branch, "CANCEL"))
                    self.background.add(cancelling)
                    cancelling.add_done_callback(self.background.discard)
                elif self.kind is Transport.UDP and not proceeding:
                    self.channel.send(data)
                    interval *= 2
                continue
            if not answer.final:
                proceeding = True
                continue
            if cancelled and answer.status == 487:
                return CallOutcome(CallStatus.NO_ANSWER, f"no answer within {ring_timeout:g} s", 487)
            if 200 <= answer.status < 300:
                self.dialog.establish(answer)
                ack_branch = messages.new_branch()
                self.ack = messages.in_dialog(self.dialog, "ACK", ack_branch, self.dialog.cseq)
                self.channel.send(self.ack)
            return answer

    async def _talk(
        self,
        rtp: asyncio.DatagramTransport,
        receiver: RtpReceiver,
        answer: sdp.Answer,
        script: Script,
    ) -> tuple[str | None, str]:
        digits = script.digits
        keys = KeyPresses(answer.event_type if answer.event_type is not None else sdp.EVENT_TYPE)
        pressed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def hear() -> None:
            while not pressed.done():
                packet, _ = await receiver.packets.get()
                with suppress(RtpError):
                    key = keys.feed(packet)
                    if key is not None and key in digits and not pressed.done():
                        pressed.set_result(key)

        async def relayed() -> None:
            while not pressed.done():
                key = await self.keys.get()
                if key in digits and not pressed.done():
                    pressed.set_result(key)

        speaking = asyncio.create_task(self._speak(rtp, (answer.host, answer.port), script))
        hearing = [asyncio.create_task(hear()), asyncio.create_task(relayed())]
        hang = asyncio.create_task(self.hung_up.wait())
        lost = asyncio.create_task(self.channel.lost.wait())
        try:
            waiting: set[asyncio.Future[Any]] = {speaking, hang, pressed, lost}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (speaking, hang, lost, *hearing):
                task.cancel()
            await asyncio.gather(speaking, hang, lost, *hearing, return_exceptions=True)
        if pressed.done():
            return pressed.result(), f"answered; {pressed.result()} pressed"
        if self.hung_up.is_set():
            return None, "answered; hung up without pressing a key"
        if self.channel.lost.is_set():
            return None, "answered; the trunk closed the connection before a key was pressed"
        return None, f"answered; no key pressed after the message was said {script.repeats} times"

    async def _speak(self, rtp: asyncio.DatagramTransport, to: tuple[str, int], script: Script) -> None:
        """The script's audio, silence included (a phone hears a stream, not gaps in it),
        in 20 ms packets on a clock, not on the sends."""
        silence = bytes([SILENCE]) * FRAME
        spoken = frames(self.audio)
        pause = [silence] * round(script.gap * SAMPLE_RATE / FRAME)
        tail = [silence] * round(script.listen * SAMPLE_RATE / FRAME)
        payloads = [*spoken, *[*pause, *spoken] * (script.repeats - 1), *tail]
        ssrc, sequence, timestamp = secrets.randbits(32), secrets.randbits(16), secrets.randbits(32)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for number, payload in enumerate(payloads):
            packet = RtpPacket(PCMU, sequence + number, timestamp + number * FRAME, ssrc, payload, marker=number == 0)
            rtp.sendto(packet.encode(), to)
            await asyncio.sleep(max(start + (number + 1) * FRAME / SAMPLE_RATE - loop.time(), 0))

    async def _bye(self) -> None:
        self.dialog.cseq += 1
        branch = messages.new_branch()
        await self._non_invite(messages.in_dialog(self.dialog, "BYE", branch, self.dialog.cseq), branch, "BYE")
