"""SIP OPTIONS: the request as RFC 3261 writes it, responses read in their every spelling,
the answer told from strays, and the probe's verdicts against SIP servers on loopback."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.checks.sip import (
    Options,
    Request,
    Response,
    SipError,
    StreamReader,
    Transport,
    new_options,
    options_probe,
    parse_message,
    parse_response,
)
from watchkeeper.errors import Invalid

REQUEST = Options(
    host="192.0.2.10",
    port=5060,
    transport=Transport.UDP,
    local_host="192.0.2.1",
    local_port=40000,
    branch="z9hG4bKa1b2c3",
    call_id="c4ll1d",
    tag="t4g",
)


def response(*headers: str, status: str = "200 OK", body: bytes = b"", length: bool = True) -> bytes:
    lines = [f"SIP/2.0 {status}", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def ok(*extra: str, status: str = "200 OK", branch: str = "z9hG4bKa1b2c3", body: bytes = b"") -> bytes:
    return response(
        f"Via: SIP/2.0/UDP 192.0.2.1:40000;branch={branch};rport=40000;received=192.0.2.1",
        "From: <sip:watchkeeper@192.0.2.1>;tag=t4g",
        "To: <sip:192.0.2.10:5060>;tag=srv1",
        "Call-ID: c4ll1d",
        "CSeq: 1 OPTIONS",
        *extra,
        status=status,
        body=body,
    )


# Building


def test_the_request_carries_every_header_rfc_3261_asks_of_an_options():
    assert REQUEST.encode().decode().split("\r\n") == [
        "OPTIONS sip:192.0.2.10:5060 SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:40000;branch=z9hG4bKa1b2c3;rport",
        "Max-Forwards: 70",
        "To: <sip:192.0.2.10:5060>",
        "From: <sip:watchkeeper@192.0.2.1>;tag=t4g",
        "Call-ID: c4ll1d",
        "CSeq: 1 OPTIONS",
        "Contact: <sip:watchkeeper@192.0.2.1:40000>",
        "Accept: application/sdp",
        "User-Agent: watchkeeper",
        "Content-Length: 0",
        "",
        "",
    ]


def test_a_request_over_tcp_says_so_in_its_via_and_contact():
    text = new_options("pbx.example", 5060, Transport.TCP, ("192.0.2.1", 40000)).encode().decode()
    assert "\r\nVia: SIP/2.0/TCP 192.0.2.1:40000;branch=z9hG4bK" in text
    assert "\r\nContact: <sip:watchkeeper@192.0.2.1:40000;transport=tcp>\r\n" in text


def test_a_request_to_a_user_names_it_in_the_request_uri_and_to():
    text = new_options("pbx.example", 5060, Transport.UDP, ("192.0.2.1", 1), user="trunk-a").encode().decode()
    assert text.startswith("OPTIONS sip:trunk-a@pbx.example:5060 SIP/2.0\r\n")
    assert "\r\nTo: <sip:trunk-a@pbx.example:5060>\r\n" in text


def test_ipv6_addresses_are_bracketed_in_uris_and_via():
    text = new_options("2001:db8::10", 5060, Transport.UDP, ("2001:db8::1", 40000)).encode().decode()
    assert text.startswith("OPTIONS sip:[2001:db8::10]:5060 SIP/2.0\r\n")
    assert "Via: SIP/2.0/UDP [2001:db8::1]:40000;branch=" in text


def test_every_request_has_its_own_branch_call_id_and_tag_and_the_magic_cookie():
    requests = [new_options("h", 5060, Transport.UDP, ("127.0.0.1", 1)) for _ in range(500)]
    assert all(request.branch.startswith("z9hG4bK") for request in requests)
    for ids in ([r.branch for r in requests], [r.call_id for r in requests], [r.tag for r in requests]):
        assert len(set(ids)) == len(requests)


# Reading


def test_a_200_is_read_with_its_status_reason_and_headers():
    read = parse_response(ok("Server: Asterisk PBX 20.5.0"))
    assert (read.status, read.reason, read.final) == (200, "OK", True)
    assert read.get("server") == "Asterisk PBX 20.5.0"
    assert read.branch == "z9hG4bKa1b2c3"
    assert read.cseq == (1, "OPTIONS")
    assert read.answers(REQUEST)


@pytest.mark.parametrize("name", ["Call-ID", "call-id", "CALL-ID", "Call-Id", "i", "I"])
def test_header_names_are_read_in_any_case_and_in_compact_form(name):
    assert parse_response(ok()).get(name) == "c4ll1d"


def test_a_response_written_with_compact_headers_is_read_as_the_long_one():
    compact = (
        b"SIP/2.0 200 OK\r\n"
        b"v: SIP/2.0/UDP 192.0.2.1:40000;branch=z9hG4bKa1b2c3\r\n"
        b"f: <sip:watchkeeper@192.0.2.1>;tag=t4g\r\n"
        b"t: <sip:192.0.2.10:5060>;tag=x\r\n"
        b"i: c4ll1d\r\n"
        b"CSeq: 1 OPTIONS\r\n"
        b"c: application/sdp\r\n"
        b"l: 4\r\n"
        b"\r\n"
        b"v=0\r"
    )
    read = parse_response(compact)
    assert (read.get("Content-Type"), read.get("Content-Length"), read.body) == ("application/sdp", "4", b"v=0\r")
    assert read.answers(REQUEST)


def test_a_folded_via_is_unfolded_before_its_branch_is_read():
    folded = ok().replace(b"192.0.2.1:40000;branch=", b"192.0.2.1:40000\r\n   ;branch=", 1)
    read = parse_response(folded)
    assert read.vias == ["SIP/2.0/UDP 192.0.2.1:40000 ;branch=z9hG4bKa1b2c3;rport=40000;received=192.0.2.1"]
    assert read.answers(REQUEST)


@pytest.mark.parametrize(
    "vias",
    [
        ["Via: SIP/2.0/UDP 192.0.2.1:40000;branch=z9hG4bKa1b2c3, SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKp"],
        ["Via: SIP/2.0/UDP 192.0.2.1:40000;branch=z9hG4bKa1b2c3", "v: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKp"],
    ],
    ids=["comma-separated", "one-per-line"],
)
def test_more_than_one_via_is_read_in_order_but_is_no_answer_to_this_client(vias):
    read = parse_response(response(*vias, "Call-ID: c4ll1d", "CSeq: 1 OPTIONS"))
    assert [via.split(";")[0] for via in read.vias] == ["SIP/2.0/UDP 192.0.2.1:40000", "SIP/2.0/UDP 198.51.100.7"]
    assert read.branch == "z9hG4bKa1b2c3"
    assert not read.answers(REQUEST)


def test_a_200_with_a_body_keeps_exactly_the_content_length_of_it():
    sdp = b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\n"
    read = parse_response(ok("Content-Type: application/sdp", body=sdp) + b"trailing junk")
    assert read.body == sdp


def test_over_udp_a_missing_content_length_means_the_rest_of_the_datagram():
    read = parse_response(
        response("Via: SIP/2.0/UDP h;branch=z9hG4bKx", "i: c", "CSeq: 1 OPTIONS", length=False) + b"x"
    )
    assert read.body == b"x"


def test_a_404_is_a_final_answer_with_its_reason_phrase():
    read = parse_response(ok(status="404 Not Found"))
    assert (read.status, read.reason, read.final) == (404, "Not Found", True)
    assert read.answers(REQUEST)


def test_a_100_trying_is_an_answer_but_not_a_final_one():
    read = parse_response(ok(status="100 Trying"))
    assert read.answers(REQUEST) and not read.final


def test_lines_ended_by_a_bare_lf_are_read_too():
    assert parse_response(ok().replace(b"\r\n", b"\n")).answers(REQUEST)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ((b"branch=z9hG4bKa1b2c3", b"branch=z9hG4bKother"), "another transaction's branch"),
        ((b"Call-ID: c4ll1d", b"Call-ID: someone-else"), "another call"),
        ((b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"), "another method"),
        ((b"CSeq: 1 OPTIONS", b"CSeq: 2 OPTIONS"), "another sequence number"),
    ],
)
def test_a_stray_response_is_no_answer_to_this_request(change, why):
    assert not parse_response(ok().replace(*change)).answers(REQUEST), why


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "does not end with an empty line"),
        (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx", "does not end with an empty line"),
        (b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", "not a SIP/2.0 response status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "not a SIP/2.0 response status line"),
        (b"SIP/2.0 700 Odd\r\n\r\n", "not a SIP/2.0 response status line"),
        (b"SIP/2.0 20 OK\r\n\r\n", "not a SIP/2.0 response status line"),
        (b"SIP/2.0 200 OK\r\nno colon here\r\n\r\n", "line 2 is not a header"),
        (b"SIP/2.0 200 OK\r\nBad Name: x\r\n\r\n", "line 2 is not a header"),
        (b"SIP/2.0 200 OK\r\n folded first\r\n\r\n", "line 2 continues a header"),
        (ok().replace(b"Content-Length: 0", b"Content-Length: ten"), "Content-Length is not a number"),
        (ok().replace(b"Content-Length: 0", b"Content-Length: 99999999"), "is more than"),
        (ok("l: 3"), "Content-Length given twice"),
        (ok().replace(b"Content-Length: 0", b"Content-Length: 5") + b"abc", "says 5 bytes, but the body has 3"),
        (ok().replace(b"Call-ID: c4ll1d\r\n", b""), "without the Call-Id header"),
        (ok().replace(b"CSeq: 1 OPTIONS\r\n", b""), "without the Cseq header"),
        (ok().replace(b"Via: SIP/2.0/UDP ", b"Via: garbage "), "a Via that is not"),
    ],
)
def test_malformed_input_is_refused_with_a_message_that_says_what_is_wrong(data, said):
    with pytest.raises(SipError, match=re.escape(said)):
        parse_response(data)


PIECES = [
    b"SIP/2.0 ",
    b"200 OK",
    b"\r\n",
    b"\n",
    b" ",
    b":",
    b"Via: SIP/2.0/UDP h;branch=z9hG4bKx",
    b"v: ",
    b"Call-ID: c",
    b"CSeq: 1 OPTIONS",
    b"Content-Length: ",
    b"l: 12",
    b"0",
    b"\xff\xfe",
    b"\x00",
    b"\t",
]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)))
def test_no_bytes_make_the_reader_raise_anything_but_its_own_error(data):
    try:
        read = parse_response(data)
    except SipError:
        return
    assert isinstance(read, Response) and 100 <= read.status <= 699


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=80), st.sampled_from(PIECES)), max_size=30))
def test_no_bytes_make_the_stream_reader_raise_anything_but_its_own_error(pieces):
    frames = StreamReader()
    try:
        for piece in pieces:
            frames.feed(piece)
    except SipError:
        pass


# Framing a stream


def test_a_response_split_across_tcp_reads_is_read_whole_at_any_split():
    message = ok("Content-Type: application/sdp", body=b"v=0\r\n")
    for cut in range(1, len(message)):
        frames = StreamReader()
        assert frames.feed(message[:cut]) == []
        assert frames.feed(message[cut:]) == [message]


def test_a_response_read_byte_by_byte_is_one_message():
    frames, message = StreamReader(), ok()
    found = [frame for byte in message for frame in frames.feed(bytes([byte]))]
    assert found == [message]


def test_two_responses_in_one_read_with_keepalives_between_are_two_messages():
    first, second = ok(status="100 Trying"), ok(body=b"")
    assert StreamReader().feed(b"\r\n\r\n" + first + b"\r\n" + second) == [first, second]


def test_a_stream_message_without_content_length_is_refused():
    with pytest.raises(SipError, match="without the Content-Length"):
        StreamReader().feed(response("Via: SIP/2.0/TCP h;branch=z9hG4bKx", length=False))


def test_a_stream_that_never_ends_its_headers_is_refused():
    frames = StreamReader()
    with pytest.raises(SipError, match="no end of the header section"):
        for _ in range(100):
            frames.feed(b"X-Filler: " + b"a" * 1000 + b"\r\n")


# The probe against servers on loopback


class Scripted(asyncio.DatagramProtocol):
    """A UDP SIP server that answers the nth request it receives with what `script(n, request)` says."""

    def __init__(self, script):
        self.script = script
        self.received: list[bytes] = []

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received.append(data)
        for delay, datagram in self.script(len(self.received), data):
            asyncio.get_running_loop().call_later(delay, self.transport.sendto, datagram, addr)


def answer_to(request: bytes, status: str = "200 OK", *extra: str, branch: str | None = None) -> bytes:
    """A response that echoes the request's Via, From, To, Call-ID and CSeq, as a server's does."""
    lines = request.decode().split("\r\n")
    echoed = [line for line in lines if line.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")]
    if branch is not None:
        echoed = [re.sub(r"branch=[^;]+", f"branch={branch}", line) for line in echoed]
    return response(*echoed, *extra, status=status)


def probe_udp(script, timeout=2.0, host="127.0.0.1"):
    async def run():
        loop = asyncio.get_running_loop()
        bind = host.strip("[]")
        transport, server = await loop.create_datagram_endpoint(lambda: Scripted(script), local_addr=(bind, 0))
        try:
            port = transport.get_extra_info("sockname")[1]
            return await options_probe(host, port, "udp", timeout), server
        finally:
            transport.close()

    return asyncio.run(run())


def test_a_2xx_is_up_with_its_round_trip_and_the_server_it_names():
    result, _ = probe_udp(lambda n, req: [(0, answer_to(req, "200 OK", "Server: Asterisk PBX 20.5.0"))])
    assert result.up and result.error == ""
    assert 0 < result.latency < 1
    assert result.detail == {"transport": "udp", "status": 200, "reason": "OK", "server": "Asterisk PBX 20.5.0"}


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_server_is_probed_with_its_address_bracketed_in_the_request(host):
    result, server = probe_udp(lambda n, req: [(0, answer_to(req))], host=host)
    assert result.up
    assert server.received[0].startswith(b"OPTIONS sip:[::1]:")
    assert b"\r\nVia: SIP/2.0/UDP [::1]:" in server.received[0]


def test_provisional_answers_are_waited_through_to_the_final_one():
    result, _ = probe_udp(lambda n, req: [(0, answer_to(req, "100 Trying")), (0.3, answer_to(req, "202 Accepted"))])
    assert result.up and result.detail["status"] == 202 and result.status == 202
    assert result.latency >= 0.3


def test_a_404_is_down_with_its_status_and_reason():
    result, _ = probe_udp(lambda n, req: [(0, answer_to(req, "404 Not Found", "User-Agent: FPBX-16"))])
    assert not result.up
    assert result.error == "404 Not Found"
    assert result.latency is not None
    assert result.detail == {"transport": "udp", "status": 404, "reason": "Not Found", "server": "FPBX-16"}


def test_a_503_is_down():
    result, _ = probe_udp(lambda n, req: [(0, answer_to(req, "503 Service Unavailable"))])
    assert (result.up, result.error) == (False, "503 Service Unavailable")


def test_a_stray_answer_with_another_branch_is_ignored_for_the_real_one():
    def script(n, req):
        return [(0, answer_to(req, "500 Server Error", branch="z9hG4bKnotours")), (0.1, answer_to(req))]

    result, _ = probe_udp(script)
    assert result.up


def test_a_lost_request_is_retransmitted_at_t1_then_doubling():
    result, server = probe_udp(lambda n, req: [(0, answer_to(req))] if n == 3 else [])
    assert result.up
    assert len(server.received) == 3
    assert len({datagram for datagram in server.received}) == 1, "a retransmission is the same request"
    assert 1.4 < result.latency < 2.2, "sent at 0, 0.5 and 1.5 s"


def test_a_silent_server_is_down_at_the_timeout_after_retransmissions():
    result, server = probe_udp(lambda n, req: [], timeout=2.0)
    assert (result.up, result.latency, result.error) == (False, None, "no final answer within 2 s")
    assert len(server.received) == 3


def test_only_strays_and_garbage_are_a_timeout():
    def script(n, req):
        return [(0, b"garbage\r\n\r\n"), (0, answer_to(req, branch="z9hG4bKnotours"))]

    result, _ = probe_udp(script, timeout=1.0)
    assert (result.up, result.error) == (False, "no final answer within 1 s")


def test_a_closed_udp_port_is_down_as_refused():
    async def run():
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        transport.close()
        return await options_probe("127.0.0.1", port, "udp", 2.0), port

    result, port = asyncio.run(run())
    assert (result.up, result.error) == (False, f"refused: nothing listens on 127.0.0.1:{port} over udp")


def probe_tcp(serve, timeout=2.0):
    async def run():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await options_probe("127.0.0.1", port, "tcp", timeout)

    return asyncio.run(run())


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def test_over_tcp_an_answer_in_pieces_after_a_provisional_is_up():
    async def serve(reader, writer):
        request = await read_request(reader)
        data = answer_to(request, "100 Trying") + answer_to(request, "200 OK", "Server: kamailio")
        for start in range(0, len(data), 17):
            writer.write(data[start : start + 17])
            await writer.drain()
            await asyncio.sleep(0.005)
        await reader.read()

    result = probe_tcp(serve)
    assert result.up and result.detail["transport"] == "tcp" and result.detail["server"] == "kamailio"


def test_over_tcp_a_connection_closed_before_an_answer_is_down():
    async def serve(reader, writer):
        await read_request(reader)
        writer.write(answer_to(b"", "100 Trying"))
        writer.close()

    result = probe_tcp(serve)
    assert (result.up, result.error) == (False, "the server closed the connection before a final answer")


def test_over_tcp_a_stream_that_cannot_be_framed_is_down_as_unreadable():
    async def serve(reader, writer):
        await read_request(reader)
        writer.write(b"SIP/2.0 200 OK\r\nContent-Length: lots\r\n\r\n")
        await reader.read()

    result = probe_tcp(serve)
    assert not result.up
    assert result.error == "unreadable answer: Content-Length is not a number of bytes: 'lots'"


def test_over_tcp_a_silent_server_is_down_at_the_timeout():
    async def serve(reader, writer):
        await reader.read()

    result = probe_tcp(serve, timeout=0.5)
    assert (result.up, result.error) == (False, "no final answer within 0.5 s")


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"transport": "sctp"}, "transport 'sctp' is not one of: udp, tcp"),
        ({"port": 0}, "port 0 is not between 1 and 65535"),
        ({"host": "pbx\r\nX-Injected: 1"}, "is not a host name or IP address"),
        ({"user": "a b"}, "is not the user part of a SIP URI"),
        ({"timeout": 0}, "timeout 0 must be more than 0 seconds"),
    ],
)
def test_a_probe_set_up_wrong_is_refused_before_anything_is_sent(arguments, said):
    call = {"host": "127.0.0.1", "port": 5060} | arguments
    with pytest.raises(Invalid, match=re.escape(said)):
        asyncio.run(options_probe(**call))


BYE = (
    b"BYE sip:watchkeeper@127.0.0.1:5062 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy, SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKphone\r\n"
    b"Route: <sip:127.0.0.1;lr>\r\n"
    b"f: <sip:alice@pbx>;tag=a1\r\nt: <sip:watchkeeper@pbx>;tag=w1\r\n"
    b"i: call-7\r\nCSeq: 2 BYE\r\nl: 0\r\n\r\n"
)


def test_a_request_is_read_with_its_method_uri_and_list_headers():
    request = parse_message(BYE)
    assert isinstance(request, Request)
    assert (request.method, request.uri, request.cseq) == ("BYE", "sip:watchkeeper@127.0.0.1:5062", (2, "BYE"))
    assert request.vias == [
        "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy",
        "SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKphone",
    ]
    assert request.branch == "z9hG4bKproxy"
    assert request.get_all("route") == ["<sip:127.0.0.1;lr>"]
    assert request.get("from") == "<sip:alice@pbx>;tag=a1"


def test_a_request_keeps_exactly_its_body():
    info = BYE.replace(b"BYE sip", b"INFO sip").replace(b"2 BYE", b"3 INFO").replace(b"l: 0", b"l: 9")
    request = parse_message(info + b"Signal=1\r\nextra")
    assert isinstance(request, Request) and (request.method, request.body) == ("INFO", b"Signal=1\r")


def test_parse_message_reads_a_response_as_parse_response_does():
    data = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n"
    assert parse_message(data) == parse_response(data)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"HELLO\r\n\r\n", "neither a SIP/2.0 request line nor a status line"),
        (b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCall-ID: c\r\nCSeq: 1 BYE\r\nTo: <sip:a@b>\r\n\r\n", "From"),
        (BYE.replace(b"l: 0", b"l: 50"), "Content-Length says 50"),
        (b"BYE sip:a@b SIP/2.0\r\nVia: x", "does not end with an empty line"),
    ],
)
def test_a_malformed_request_is_a_sip_error_that_says_what_is_wrong(data, said):
    with pytest.raises(SipError, match=said):
        parse_message(data)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400), st.lists(st.sampled_from([*PIECES, BYE[:40], b"INVITE "]), max_size=40).map(b"".join)
    )
)
def test_no_bytes_make_parse_message_raise_anything_but_its_own_error(data):
    try:
        read = parse_message(data)
    except SipError:
        return
    assert isinstance(read, Request | Response)
