"""Pages rung through a real Kamailio to a real baresip (phones.py says how they are set up).

What is asserted is what the engineer and the escalation would see: the phone rang and
heard the message (its recording is not silence), the key pressed comes back, and a busy,
an unanswered or an unknown phone is an outcome that says so and is not acknowledged."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.notify.voice.phones import (
    TRUNK_PASSWORD,
    TRUNK_USER,
    Phone,
    Registrar,
    needs_phones,
    rms_amplitude,
    seconds_long,
)
from tests.notify.voice.scripted_phone import ScriptedPhone
from watchkeeper.notify.voice import CallOutcome, CallStatus, Trunk, place_call
from watchkeeper.notify.voice.media import SAMPLE_RATE
from watchkeeper.notify.voice.speech import synthesise

pytestmark = needs_phones

PAGE = (
    "watchkeeper, high urgency incident 42 for Acme: CDR feed acme-voice silent for 47 minutes. "
    "Press 1 to acknowledge, 2 to escalate."
)
HEARD_FLOOR = 0.02  # sox RMS amplitude; espeak-ng's speech through G.711 is around 0.07, silence 0


def trunk(registrar: Registrar, password: str = TRUNK_PASSWORD, transport: str = "udp") -> Trunk:
    return Trunk("127.0.0.1", registrar.port, transport, TRUNK_USER, password, "watchkeeper on-call")


async def when_established(phone: Phone, then: float) -> None:
    deadline = time.monotonic() + 15
    while "Call established" not in phone.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"the phone never took the call:\n{phone.tail()}"
        await asyncio.sleep(0.05)
    await asyncio.sleep(then)


async def call_and_press(phone: Phone, the_trunk: Trunk, key: str | None, **options: float) -> CallOutcome:
    async def press() -> None:
        if key is not None:
            await when_established(phone, 1.5)  # the message has begun
            await asyncio.to_thread(phone.press, key)

    pressing = asyncio.create_task(press())
    outcome = await place_call(the_trunk, phone.user, PAGE, **options)  # type: ignore[arg-type]
    await pressing
    return outcome


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_an_answered_page_is_heard_and_the_key_pressed_comes_back(registrar, phones, transport):
    phone = phones("alice")
    outcome = asyncio.run(call_and_press(phone, trunk(registrar, transport=transport), "1", ring_timeout=10))
    assert (outcome.status, outcome.code, outcome.digit) == (CallStatus.ANSWERED, 200, "1")
    assert outcome.reason == "answered; 1 pressed"
    # The key ended the message: the call lasted the 1.5 s before the press, not the 2 x 9 s message.
    assert 1.5 < outcome.talk_seconds < 6
    assert 0 <= outcome.ring_seconds < 5
    assert rms_amplitude(phone.heard()) > HEARD_FLOOR
    phone.wait_for("terminated", "hung up")


@pytest.mark.parametrize(
    "registrar",
    [("www", True), ("proxy", False), ("www", False)],
    indirect=True,
    ids=["401", "407-rfc2069", "401-rfc2069"],
)
def test_a_401_or_a_challenge_without_qop_is_answered_too(registrar, phones):
    phone = phones("alice")
    outcome = asyncio.run(call_and_press(phone, trunk(registrar), "2", ring_timeout=10))
    assert (outcome.status, outcome.code, outcome.digit) == (CallStatus.ANSWERED, 200, "2")


@pytest.mark.parametrize("registrar", [("www", True)], indirect=True)
def test_a_wrong_password_for_a_401_fails_with_the_refusal(registrar, phones):
    phones("alice")
    outcome = asyncio.run(place_call(trunk(registrar, password="wrong"), "alice", PAGE, ring_timeout=5))
    assert (outcome.status, outcome.code) == (CallStatus.FAILED, 401)
    assert outcome.reason.startswith("the trunk refused the credentials: 401")


def test_a_key_not_offered_is_ignored_and_the_offered_one_counts(registrar, phones):
    phone = phones("alice")

    async def scenario() -> CallOutcome:
        async def press() -> None:
            await when_established(phone, 1.0)
            await asyncio.to_thread(phone.press, "7")
            await asyncio.sleep(0.5)
            await asyncio.to_thread(phone.press, "2")

        pressing = asyncio.create_task(press())
        outcome = await place_call(trunk(registrar), "alice", PAGE, ring_timeout=10, digits="12")
        await pressing
        return outcome

    outcome = asyncio.run(scenario())
    assert (outcome.status, outcome.digit) == (CallStatus.ANSWERED, "2")


def test_an_answered_page_without_a_key_is_said_repeats_times_and_not_acknowledged(registrar, phones):
    phone = phones("alice")
    said = len(asyncio.run(synthesise("Incident 42."))) / SAMPLE_RATE
    outcome = asyncio.run(
        place_call(trunk(registrar), "alice", "Incident 42.", ring_timeout=10, repeats=2, gap=0.5, listen=1.0)
    )
    assert (outcome.status, outcome.digit) == (CallStatus.ANSWERED, None)
    assert outcome.reason == "answered; no key pressed after the message was said 2 times"
    # Twice the message, the gap and the listening, in real time: the packets went out every 20 ms.
    expected = 2 * said + 0.5 + 1.0
    assert expected <= outcome.talk_seconds < expected + 1.0
    phone.wait_for("terminated", "hung up")
    heard = phone.heard()
    assert rms_amplitude(heard) > HEARD_FLOOR
    assert expected - 0.3 < seconds_long(heard) < expected + 1.0


def test_a_phone_that_rejects_the_call_is_busy(registrar, phones):
    phone = phones("bob", answer="manual")

    async def scenario() -> CallOutcome:
        async def reject() -> None:
            deadline = time.monotonic() + 10
            while "Incoming call from" not in phone.log.read_text(errors="replace"):
                assert time.monotonic() < deadline, phone.tail()
                await asyncio.sleep(0.05)
            phone.key(b"b")  # baresip's menu: hang up the ringing call

        rejecting = asyncio.create_task(reject())
        outcome = await place_call(trunk(registrar), "bob", PAGE, ring_timeout=10)
        await rejecting
        return outcome

    outcome = asyncio.run(scenario())
    assert (outcome.status, outcome.code, outcome.digit) == (CallStatus.BUSY, 486, None)
    assert not outcome.answered


def test_a_phone_nobody_answers_is_cancelled_at_the_ring_timeout(registrar, phones):
    phone = phones("carol", answer="manual")
    outcome = asyncio.run(place_call(trunk(registrar), "carol", PAGE, ring_timeout=2))
    assert (outcome.status, outcome.code) == (CallStatus.NO_ANSWER, 487)
    assert outcome.reason == "no answer within 2 s"
    assert 2 <= outcome.ring_seconds < 4
    phone.wait_for("session closed", "told the call was cancelled")


def test_a_number_nobody_registered_is_rejected_with_404(registrar):
    outcome = asyncio.run(place_call(trunk(registrar), "nobody", PAGE, ring_timeout=5))
    assert (outcome.status, outcome.code, outcome.reason) == (CallStatus.REJECTED, 404, "404 Not Found")
    assert not outcome.answered


def test_a_wrong_trunk_password_fails_with_the_trunks_refusal(registrar, phones):
    phones("alice")
    outcome = asyncio.run(place_call(trunk(registrar, password="wrong"), "alice", PAGE, ring_timeout=5))
    assert (outcome.status, outcome.code) == (CallStatus.FAILED, 407)
    assert outcome.reason.startswith("the trunk refused the credentials: 407")


def test_a_trunk_that_is_down_fails_without_waiting_for_the_ring_timeout(registrar):
    port = registrar.port
    registrar.stop()
    outcome = asyncio.run(place_call(Trunk("127.0.0.1", port, "tcp", TRUNK_USER, TRUNK_PASSWORD), "alice", PAGE))
    assert outcome.status is CallStatus.FAILED
    assert outcome.reason.startswith(f"127.0.0.1:{port} over tcp:")


def test_a_key_sent_as_sip_info_is_taken(registrar):
    async def scenario() -> tuple[CallOutcome, ScriptedPhone]:
        async with ScriptedPhone("dave", registrar.port) as phone:

            async def behave() -> None:
                invite = await phone.answer()
                await asyncio.sleep(0.5)
                info = b"Signal=1\r\nDuration=160\r\n"
                phone.send(phone.in_dialog(invite, "INFO", 1, info, "application/dtmf-relay"))
                assert (await phone.response("INFO")).status == 200
                bye = await phone.request("BYE")
                phone.send(phone.reply(bye, 200, "OK"))

            behaving = asyncio.create_task(behave())
            outcome = await place_call(trunk(registrar), "dave", PAGE, ring_timeout=5)
            await behaving
            return outcome, phone

    outcome, phone = asyncio.run(scenario())
    assert (outcome.status, outcome.digit, outcome.reason) == (CallStatus.ANSWERED, "1", "answered; 1 pressed")
    assert phone.seen.rtp_packets > 10  # the message was being said when the key came
    assert phone.seen.methods() == ["INVITE", "ACK", "BYE"]


def test_a_phone_that_hangs_up_first_is_answered_without_a_key_and_gets_no_bye(registrar):
    async def scenario() -> tuple[CallOutcome, ScriptedPhone]:
        async with ScriptedPhone("erin", registrar.port) as phone:

            async def behave() -> None:
                invite = await phone.answer(twice=True)
                await asyncio.sleep(0.5)
                phone.send(phone.in_dialog(invite, "BYE", 1))
                assert (await phone.response("BYE")).status == 200

            behaving = asyncio.create_task(behave())
            outcome = await place_call(trunk(registrar), "erin", PAGE, ring_timeout=5)
            await behaving
            await asyncio.sleep(1.0)  # time for a BYE the call must not send
            while not phone.queue.empty():
                await phone.next()
            return outcome, phone

    outcome, phone = asyncio.run(scenario())
    assert (outcome.status, outcome.digit) == (CallStatus.ANSWERED, None)
    assert outcome.reason == "answered; hung up without pressing a key"
    assert 0.4 < outcome.talk_seconds < 3
    # The 200 came twice, so it was ACKed twice; the phone hung up, so no BYE came to it.
    assert phone.seen.methods() == ["INVITE", "ACK", "ACK"]


def test_a_trunk_that_closes_the_connection_while_ringing_fails_at_once(registrar, phones):
    phone = phones("carol", answer="manual")

    async def scenario() -> CallOutcome:
        async def stop_when_ringing() -> None:
            deadline = time.monotonic() + 10
            while "Incoming call from" not in phone.log.read_text(errors="replace"):
                assert time.monotonic() < deadline, phone.tail()
                await asyncio.sleep(0.05)
            await asyncio.to_thread(registrar.stop)

        stopping = asyncio.create_task(stop_when_ringing())
        outcome = await place_call(trunk(registrar, transport="tcp"), "carol", PAGE, ring_timeout=20)
        await stopping
        return outcome

    started = time.monotonic()
    outcome = asyncio.run(scenario())
    assert (outcome.status, outcome.code) == (CallStatus.FAILED, None)
    assert outcome.reason == "the trunk closed the connection before a final answer"
    assert time.monotonic() - started < 15


def test_a_hung_trunk_fails_at_the_ring_timeout(registrar):
    registrar.signal(signal.SIGSTOP)
    try:
        outcome = asyncio.run(place_call(trunk(registrar), "alice", PAGE, ring_timeout=2))
    finally:
        registrar.signal(signal.SIGCONT)
    assert (outcome.status, outcome.reason) == (CallStatus.FAILED, "the trunk did not answer within 2 s")
    assert 2 <= outcome.ring_seconds < 3
