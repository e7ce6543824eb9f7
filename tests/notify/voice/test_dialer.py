"""The voice trunk as an operator writes it (WATCHKEEPER_VOICE_TRUNK), what the paged person
hears, and why a call that did not acknowledge says it did not."""

from __future__ import annotations

import pytest

from watchkeeper.errors import Invalid
from watchkeeper.notify.voice import CallOutcome, CallStatus, Trunk
from watchkeeper.notify.voice.dialer import spoken, trunk_from_url, why_not

SECRET = "s3cr%40t"  # percent-encoded "s3cr@t"


def test_a_full_url_names_host_port_transport_domain_and_display_name():
    url = f"sip://pager:{SECRET}@pbx.operator.example:5080?transport=TCP&domain=voice.example&name=Ops%20desk"
    assert trunk_from_url(url) == Trunk(
        host="pbx.operator.example",
        port=5080,
        transport="tcp",
        user="pager",
        password="s3cr@t",
        display_name="Ops desk",
        domain="voice.example",
    )


def test_a_short_url_takes_udp_on_5060_as_the_trunk_user_watchkeeper():
    assert trunk_from_url(" sip://10.0.0.5 ") == Trunk(host="10.0.0.5")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"sips://pager:{SECRET}@pbx.example", "a voice trunk is sip://USER:PASSWORD@HOST[:PORT]"),
        (f"http://pager:{SECRET}@pbx.example", "a voice trunk is sip://USER:PASSWORD@HOST[:PORT]"),
        (f"sip:pager:{SECRET}@pbx.example", "a voice trunk is sip://USER:PASSWORD@HOST[:PORT]"),
        (f"sip://pager:{SECRET}@", "a voice trunk is sip://USER:PASSWORD@HOST[:PORT]"),
        (f"sip://pager:{SECRET}@pbx.example:99999", "the voice trunk's port is 1 to 65535"),
        (f"sip://pager:{SECRET}@pbx.example:sip", "the voice trunk's port is 1 to 65535"),
        (f"sip://pager:{SECRET}@pbx.example:0", "the voice trunk's port is 1 to 65535"),
        (
            f"sip://pager:{SECRET}@pbx.example?realm=x",
            "the voice trunk URL takes transport, domain and name, not realm",
        ),
        (f"sip://pager:{SECRET}@pbx.example?transport=tls", "the voice trunk's transport is udp or tcp, not 'tls'"),
    ],
    ids=["sips", "http", "no-slashes", "no-host", "port-range", "port-text", "port-0", "unknown-key", "tls"],
)
def test_a_bad_url_is_refused_saying_what_is_wrong_and_never_the_password(url, message):
    with pytest.raises(Invalid) as refused:
        trunk_from_url(url)
    said = str(refused.value)
    assert said.startswith(message)
    assert "s3cr" not in said and "pager" not in said  # neither the password nor the account


def test_a_bad_url_is_shown_without_its_account_so_the_operator_sees_which_host():
    with pytest.raises(Invalid, match=r"port is 1 to 65535: 'sip://pbx.example:99999'"):
        trunk_from_url(f"sip://pager:{SECRET}@pbx.example:99999")


def test_the_page_says_who_it_is_from_its_urgency_and_the_keys_to_press():
    assert spoken("[high] incident 4: voip-core is down.") == (
        "watchkeeper, high urgency incident 4: voip-core is down. Press 1 to acknowledge, 2 to escalate."
    )
    assert spoken("incident 5: acme feed silent") == (
        "watchkeeper, incident 5: acme feed silent. Press 1 to acknowledge, 2 to escalate."
    )


@pytest.mark.parametrize(
    ("outcome", "why"),
    [
        (CallOutcome(CallStatus.BUSY, "486 Rejected", 486), "busy: 486 Rejected"),
        (CallOutcome(CallStatus.BUSY, "busy everywhere", 600), "busy everywhere"),
        (CallOutcome(CallStatus.NO_ANSWER, "no answer within 30 s", 487), "no answer within 30 s"),
        (
            CallOutcome(CallStatus.NO_ANSWER, "480 Temporarily Unavailable", 480),
            "no answer: 480 Temporarily Unavailable",
        ),
        (CallOutcome(CallStatus.REJECTED, "404 Not Found", 404), "rejected: 404 Not Found"),
        (CallOutcome(CallStatus.ANSWERED, "answered; 2 pressed", 200, "2"), "answered; 2 pressed"),
        (
            CallOutcome(CallStatus.FAILED, "the trunk did not answer within 30 s"),
            "the trunk did not answer within 30 s",
        ),
    ],
)
def test_a_call_not_acknowledged_says_what_it_came_to(outcome, why):
    assert why_not(outcome) == why
