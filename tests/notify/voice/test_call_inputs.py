"""What place_call refuses before it sends anything, and what it says when it cannot speak."""

from __future__ import annotations

import asyncio

import pytest

from watchkeeper.errors import Invalid
from watchkeeper.notify.voice import CallStatus, Trunk, place_call

TRUNK = Trunk("127.0.0.1", 5060, "udp", "watchkeeper", "secret")


@pytest.mark.parametrize(
    ("trunk", "to", "options", "said"),
    [
        (Trunk("bad host!", 5060), "alice", {}, "trunk host 'bad host!' is not a host name"),
        (Trunk("pbx", 0), "alice", {}, "trunk port 0 is not between 1 and 65535"),
        (Trunk("pbx", 5060, "tls"), "alice", {}, "trunk transport 'tls' is not one of: udp, tcp"),
        (Trunk("pbx", 5060, user="wk <x>"), "alice", {}, "trunk user 'wk <x>' is not the user part"),
        (Trunk("pbx", 5060, display_name='say "hi"'), "alice", {}, "display name may not contain quotes"),
        (TRUNK, "alice smith", {}, "'alice smith' is not a number, a SIP user or a sip: URI"),
        (TRUNK, "", {}, "'' is not a number"),
        (TRUNK, "alice", {"ring_timeout": 0}, "ring timeout 0 must be more than 0 seconds"),
        (TRUNK, "alice", {"repeats": 0}, "repeats 0 must be at least 1"),
        (TRUNK, "alice", {"digits": "1x"}, "digits '1x' must be telephone keys"),
        (TRUNK, "alice", {"digits": ""}, "digits '' must be telephone keys"),
    ],
)
def test_bad_arguments_are_refused_with_what_is_wrong(trunk, to, options, said):
    with pytest.raises(Invalid, match=said.replace("(", r"\(")):
        asyncio.run(place_call(trunk, to, "Incident 42.", **options))


def test_without_espeak_ng_the_call_fails_before_ringing_and_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    outcome = asyncio.run(place_call(TRUNK, "alice", "Incident 42."))
    assert outcome.status is CallStatus.FAILED
    assert outcome.reason == (
        "the message could not be said: espeak-ng and sox not installed: `apt-get install espeak-ng sox`"
    )
    assert (outcome.code, outcome.ring_seconds) == (None, 0.0)


def test_an_empty_message_is_not_a_call(monkeypatch):
    outcome = asyncio.run(place_call(TRUNK, "alice", "  \n "))
    assert (outcome.status, outcome.reason) == (
        CallStatus.FAILED,
        "the message could not be said: there is no text to say",
    )


def test_a_trunk_host_that_does_not_resolve_fails_at_once():
    outcome = asyncio.run(place_call(Trunk("no-such-host.invalid"), "alice", "Incident 42."))
    assert outcome.status is CallStatus.FAILED
    assert outcome.reason.startswith("no-such-host.invalid:5060 over udp: ")
