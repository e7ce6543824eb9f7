"""Signed answer links. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.support.links import REFUSED, Answer, InvalidLink, sign, verify

SECRET = b"s" * 32
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_signed_link_says_its_enquiry_and_answer_until_it_expires():
    token = sign(SECRET, 42, Answer.NOT_EXPECTED, NOW + timedelta(hours=72))
    signed = verify(SECRET, token, NOW)
    assert (signed.enquiry_id, signed.answer) == (42, Answer.NOT_EXPECTED)
    with pytest.raises(InvalidLink, match=REFUSED):
        verify(SECRET, token, NOW + timedelta(hours=72))


def test_another_servers_secret_or_a_changed_answer_is_refused():
    token = sign(SECRET, 42, Answer.NOT_EXPECTED, NOW + timedelta(hours=1))
    with pytest.raises(InvalidLink):
        verify(b"t" * 32, token, NOW)
    forged = sign(b"t" * 32, 42, Answer.EXPECTED, NOW + timedelta(hours=1)).split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(InvalidLink):
        verify(SECRET, forged, NOW)


@given(st.text(max_size=200))
def test_any_other_text_is_refused_with_the_same_words(text):
    with pytest.raises(InvalidLink, match=REFUSED):
        verify(SECRET, text, NOW)
