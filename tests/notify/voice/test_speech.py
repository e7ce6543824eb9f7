from __future__ import annotations

import asyncio
import shutil
from collections import Counter

import pytest

from watchkeeper.notify.voice.media import SAMPLE_RATE, SILENCE
from watchkeeper.notify.voice.speech import MAX_TEXT, SpeechError, synthesise

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng or sox not installed: `apt-get install --no-install-recommends espeak-ng sox`",
)


def test_a_sentence_is_seconds_of_8_khz_ulaw_that_is_not_silence():
    audio = asyncio.run(synthesise("High urgency incident 42 for Acme. Press 1 to acknowledge."))
    assert 2 < len(audio) / SAMPLE_RATE < 8
    # Speech: many distinct levels, and most samples are not the silence byte.
    levels = Counter(audio)
    assert len(levels) > 100 and levels[SILENCE] < len(audio) / 2


def test_a_longer_text_takes_longer_to_say():
    short = asyncio.run(synthesise("Incident 42."))
    long = asyncio.run(synthesise("Incident 42. CDR feed acme-voice silent for 47 minutes. Press 1 to acknowledge."))
    assert len(long) > 2 * len(short)


def test_text_that_looks_like_an_option_is_said_not_obeyed():
    audio = asyncio.run(synthesise("--version"))
    assert len(audio) / SAMPLE_RATE > 0.3


@pytest.mark.parametrize(("text", "said"), [(" ", "no text to say"), ("a" * (MAX_TEXT + 1), "at most 2000")])
def test_text_that_cannot_be_a_page_is_refused(text, said):
    with pytest.raises(SpeechError, match=said):
        asyncio.run(synthesise(text))
