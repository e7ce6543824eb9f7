from __future__ import annotations

from watchkeeper.checks.sip import Request, Response, Transport, parse_message
from watchkeeper.notify.voice import messages


def dialog() -> messages.Dialog:
    return messages.Dialog(
        kind=Transport.UDP,
        local=("127.0.0.1", 40000),
        from_value='"watchkeeper" <sip:watchkeeper@pbx>;tag=w1',
        request_uri="sip:alice@pbx",
        to_value="<sip:alice@pbx>",
        user="watchkeeper",
        call_id="c1",
    )


OK = Response(
    200,
    "OK",
    (
        ("via", "SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKa"),
        ("record-route", "<sip:p2;lr>, <sip:p1;lr>"),
        ("to", "<sip:alice@pbx>;tag=a9"),
        ("contact", '"Alice" <sip:alice@10.0.0.5:5070;transport=udp>;expires=60'),
        ("call-id", "c1"),
        ("cseq", "2 INVITE"),
    ),
)


def test_the_answer_sets_the_dialog_remote_tag_target_and_reversed_route_set():
    call = dialog()
    call.establish(OK)
    assert call.remote_tag == "a9"
    assert call.remote_target == "sip:alice@10.0.0.5:5070;transport=udp"
    assert call.route_set == ["<sip:p1;lr>", "<sip:p2;lr>"]


def test_a_bye_goes_to_the_remote_target_through_the_route_set_with_both_tags():
    call = dialog()
    call.establish(OK)
    bye = parse_message(messages.in_dialog(call, "BYE", "z9hG4bKb", 3))
    assert isinstance(bye, Request)
    assert (bye.method, bye.uri, bye.cseq) == ("BYE", "sip:alice@10.0.0.5:5070;transport=udp", (3, "BYE"))
    assert bye.get_all("route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    assert bye.get("to") == "<sip:alice@pbx>;tag=a9" and bye.get("from") == call.from_value


def test_a_cancel_matches_the_invite_it_cancels():
    call = dialog()
    invite = parse_message(messages.invite(call, "z9hG4bKi", b"v=0\r\n", None))
    cancel = parse_message(messages.cancel(call, "z9hG4bKi"))
    assert isinstance(invite, Request) and isinstance(cancel, Request)
    assert cancel.uri == invite.uri and cancel.branch == invite.branch
    assert invite.cseq is not None and cancel.cseq == (invite.cseq[0], "CANCEL")
    assert [cancel.get(name) for name in ("from", "to", "call-id")] == [
        invite.get(name) for name in ("from", "to", "call-id")
    ]
    assert invite.body == b"v=0\r\n" and invite.get("content-type") == "application/sdp"


def test_a_reply_echoes_the_request_and_adds_our_tag_once():
    info = parse_message(
        b"INFO sip:watchkeeper@127.0.0.1:40000 SIP/2.0\r\nVia: SIP/2.0/UDP p1;branch=z9hG4bK1\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK2\r\nFrom: <sip:alice@pbx>;tag=a9\r\nTo: <sip:watchkeeper@pbx>\r\n"
        b"Call-ID: c1\r\nCSeq: 5 INFO\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(info, Request)
    reply = parse_message(messages.reply(info, 200, "OK", "w1"))
    assert isinstance(reply, Response) and reply.status == 200
    assert reply.vias == info.vias and reply.cseq == (5, "INFO")
    assert reply.get("to") == "<sip:watchkeeper@pbx>;tag=w1"
    tagged = parse_message(messages.reply(reply_request_with_tag(info), 200, "OK", "w1"))
    assert isinstance(tagged, Response) and tagged.get("to") == "<sip:watchkeeper@pbx>;tag=x"


def reply_request_with_tag(request: Request) -> Request:
    headers = tuple((name, value + ";tag=x" if name == "to" else value) for name, value in request.headers)
    return Request(request.method, request.uri, headers, request.body)


def test_uris_and_tags_are_read_from_name_addrs_and_addr_specs():
    assert messages.uri_of('"A, B" <sip:a@b;lr>;tag=1') == "sip:a@b;lr"
    assert messages.uri_of("sip:a@b;tag=1") == "sip:a@b"
    assert messages.tag_of("<sip:a@b;tag=inside>;tag=outside") == "outside"
    assert messages.tag_of("<sip:a@b>") is None and messages.tag_of(None) is None
