from __future__ import annotations

import re

import pytest

from watchkeeper.notify.voice.digest import DigestError, authorization, parse_challenge, response


def test_the_response_is_rfc_2617s_worked_example():
    # RFC 2617 3.5: Mufasa's GET of /dir/index.html, qop=auth.
    digest = response(
        user="Mufasa",
        password="Circle Of Life",
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert digest == "6629fae49393a05397450978507c4ef1"


def test_without_qop_the_response_is_rfc_2069s_example_as_its_erratum_corrects_it():
    digest = response(
        user="Mufasa",
        password="CircleOfLife",
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        method="GET",
        uri="/dir/index.html",
        qop=None,
        nc="",
        cnonce="",
    )
    assert digest == "1949323746fe6a43ef61f9606e7febea"


def test_a_kamailio_challenge_is_read():
    challenge = parse_challenge('Digest realm="127.0.0.1", nonce="Z2x+ZWFk3a1b", qop="auth", opaque="x,y"')
    assert (challenge.realm, challenge.nonce, challenge.qop, challenge.opaque) == (
        "127.0.0.1",
        "Z2x+ZWFk3a1b",
        ("auth",),
        "x,y",
    )


def test_the_authorization_answers_the_challenge_for_the_request():
    challenge = parse_challenge('Digest realm="pbx", nonce="abc", qop="auth,auth-int", algorithm=MD5')
    value = authorization(challenge, user="watchkeeper", password="s3cret", method="INVITE", uri="sip:alice@pbx")
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', value.removeprefix("Digest ")))
    expected = response(
        user="watchkeeper",
        password="s3cret",
        realm="pbx",
        nonce="abc",
        method="INVITE",
        uri="sip:alice@pbx",
        qop="auth",
        nc="00000001",
        cnonce=fields["cnonce"],
    )
    assert fields["response"] == expected
    assert (fields["username"], fields["uri"], fields["qop"], fields["nc"]) == (
        "watchkeeper",
        "sip:alice@pbx",
        "auth",
        "00000001",
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ('Basic realm="x"', "asks for Basic authentication"),
        ('Digest nonce="n"', "without its realm or nonce"),
        ('Digest realm="r", nonce="n", algorithm=SHA-256', "only MD5"),
        ('Digest realm="r", nonce="n", qop="auth-int"', "only auth"),
    ],
)
def test_a_challenge_that_cannot_be_answered_says_why(value, said):
    with pytest.raises(DigestError, match=said):
        parse_challenge(value)
