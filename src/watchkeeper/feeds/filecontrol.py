"""Revenue-assurance file controls: sequence numbers in file names. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from watchkeeper.feeds.models import FileFindingKind
from watchkeeper.words import count


class BadPattern(ValueError):
    pass


def compile_sequence_pattern(pattern: str) -> re.Pattern[str]:
    """A regex with a group named `seq` (or a first group) holding the number."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise BadPattern(f"sequence pattern {pattern!r} is not a valid regex: {exc}") from exc
    if "seq" not in compiled.groupindex and compiled.groups < 1:
        raise BadPattern(f"sequence pattern {pattern!r} needs a group, e.g. cdr_(?P<seq>\\d+)\\.csv")
    return compiled


def sequence_number(file_name: str, pattern: str) -> int | None:
    match = compile_sequence_pattern(pattern).search(file_name)
    if match is None:
        return None
    text = match.group("seq") if "seq" in match.re.groupindex else match.group(1)
    return int(text) if text and text.isdigit() else None


@dataclass(frozen=True)
class SequenceFinding:
    kind: FileFindingKind
    detail: str
    missing: tuple[int, int] | None = None  # a gap's first and last missing number


def check_sequence(sequence: int, *, highest: int | None, used_by: str | None) -> list[SequenceFinding]:
    """What a file's sequence number says against what the feed has delivered.

    `highest` is the feed's highest number so far, `used_by` the name of an
    earlier file that already carried this number. A number below the highest
    that was never used fills a gap late: that is not a finding.
    """
    if used_by is not None:
        return [
            SequenceFinding(
                FileFindingKind.SEQUENCE_REUSED, f"sequence number {sequence} was already used by {used_by}"
            )
        ]
    if highest is not None and sequence > highest + 1:
        missing = sequence - highest - 1
        span = str(highest + 1) if missing == 1 else f"{highest + 1} to {sequence - 1}"
        return [
            SequenceFinding(
                FileFindingKind.SEQUENCE_GAP,
                f"{count(missing, 'file')} missing before {sequence}: number {span}",
                (highest + 1, sequence - 1),
            )
        ]
    return []
