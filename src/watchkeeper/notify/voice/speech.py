"""The spoken page, synthesised offline: espeak-ng says the text as a WAV, sox makes it
8 kHz mono 16-bit, and the µ-law encoding is ours (`media.encode_pcm16`)."""

from __future__ import annotations

import asyncio
import shutil

from watchkeeper.notify.voice.media import SAMPLE_RATE, encode_pcm16

MAX_TEXT = 2_000


class SpeechError(RuntimeError):
    """The text could not be said; the message says what to install or fix."""


async def _run(args: list[str], data: bytes | None, timeout: float) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if data is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(data), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SpeechError(f"{args[0]} took more than {timeout:g} s") from None
    if process.returncode != 0:
        raise SpeechError(f"{args[0]} failed ({process.returncode}): {err.decode(errors='replace').strip()[:200]}")
    return out


async def synthesise(text: str, *, voice: str = "en", timeout: float = 30.0) -> bytes:
    """µ-law audio at 8 kHz of `text` said by espeak-ng."""
    text = " ".join(text.split())
    if not text:
        raise SpeechError("there is no text to say")
    if len(text) > MAX_TEXT:
        raise SpeechError(f"the text is {len(text)} characters; a page says at most {MAX_TEXT}")
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        missing = " and ".join(name for name, path in (("espeak-ng", espeak), ("sox", sox)) if path is None)
        raise SpeechError(f"{missing} not installed: `apt-get install espeak-ng sox`")
    # The text goes on stdin, never as an argument, so a leading dash is said, not taken as an option.
    wav = await _run([espeak, "-v", voice, "-s", "150", "--stdout"], text.encode(), timeout)
    raw = ["-t", "raw", "-e", "signed-integer", "-b", "16", "-L"]
    pcm = await _run([sox, "-q", "-t", "wav", "-", *raw, "-r", str(SAMPLE_RATE), "-c", "1", "-"], wav, timeout)
    return encode_pcm16(pcm)
