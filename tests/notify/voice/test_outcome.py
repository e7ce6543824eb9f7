from __future__ import annotations

import pytest

from watchkeeper.checks.sip import Response
from watchkeeper.notify.voice.outcome import CallStatus, refused


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (486, "Busy Here", CallStatus.BUSY),
        (600, "Busy Everywhere", CallStatus.BUSY),
        (480, "Temporarily Unavailable", CallStatus.NO_ANSWER),
        (408, "Request Timeout", CallStatus.NO_ANSWER),
        (487, "Request Terminated", CallStatus.NO_ANSWER),
        (603, "Decline", CallStatus.REJECTED),
        (404, "Not Found", CallStatus.REJECTED),
        (302, "Moved Temporarily", CallStatus.REJECTED),
        (503, "Service Unavailable", CallStatus.REJECTED),
        (407, "Proxy Authentication Required", CallStatus.FAILED),
    ],
)
def test_a_refusal_says_what_kind_it_is_with_its_code_and_reason(status, reason, kind):
    outcome = refused(Response(status, reason, ()))
    assert (outcome.status, outcome.code, outcome.digit, outcome.answered) == (kind, status, None, False)
    assert f"{status} {reason}" in outcome.reason
