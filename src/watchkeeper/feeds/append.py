"""Files that grow: of a file that begins with one counted before, only what was appended is counted.

Asterisk's cdr_csv appends every call to one Master.csv, and has no rotation
of its own. Dropped into the inbox each hour, or ingested from cron, the
file holds every line counted the hour before, then the new ones. Counted
whole, each hour's calls were counted again every hour after.

Every counted file is recorded with its size, the BLAKE3 hash of its
content and the hash of its first lines (its head). A file whose head is a
recorded file's head, that is at least as long, and whose first bytes hash
to that file's content hash is that file grown: it is counted from where
that file ended. The head makes the common case cheap: a file never seen
costs one indexed look-up, and its content is hashed once, as before.

A file that is recorded under the same feed and name but does not begin
with what was counted (it shrank, or its first bytes changed) was rotated:
it is counted whole, as the new file it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from blake3 import blake3
from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from watchkeeper.feeds import arrival as arrivals
from watchkeeper.feeds import parse
from watchkeeper.feeds.arrival import Arrival
from watchkeeper.feeds.models import FILE_COUNTED, IngestedFile

HEAD_BYTES = 4096  # the head is the first two lines within this many bytes
CANDIDATES = 3  # recorded files with this head that are tried, longest first


def _hash(data: bytes | memoryview) -> str:
    return "blake3:" + blake3(data).hexdigest()


def head_hashes(arrival: Arrival) -> tuple[str, ...]:
    """The hashes a recorded file that this one may have grown from has as its head:
    of the first line, and of the first two (each with its line end). The
    first is this file's own head while it has one line, the second after."""
    arrival.arrived(HEAD_BYTES)
    head = bytes(arrival.data[: min(arrival.size, HEAD_BYTES)])
    first = head.find(b"\n")
    if first < 0:
        return ()
    second = head.find(b"\n", first + 1)
    if second < 0:
        return (_hash(head[: first + 1]),)
    return _hash(head[: first + 1]), _hash(head[: second + 1])


def origin(path: os.PathLike[str], arrival: Arrival) -> str:
    """Which file, where: its real path, device, inode and modification time, hashed."""
    device, inode, mtime = arrival.identity
    return _hash(f"{os.path.realpath(path)}\0{device}:{inode}:{mtime}".encode(errors="surrogateescape"))[:80]


@dataclass
class Counted:
    """What of a file was counted before."""

    earlier: IngestedFile | None = None  # the recorded file it begins with; None: a new file
    lines: int = 0  # lines in the bytes counted before
    released: bool = False  # the bytes hashed were let go: reading it whole needs a new Arrival
    last: IngestedFile | None = None  # the feed's last file of this name, while followed

    @property
    def end(self) -> int:
        return self.earlier.size if self.earlier is not None else 0

    def rotated(self, size: int) -> str | None:
        """Why the followed file is not the one counted last time under its name; None if it is."""
        last = self.last
        if last is None or (self.earlier is not None and self.earlier.id == last.id):
            return None
        if size < last.size:
            return f"it shrank from {last.size:,} to {size:,} bytes"
        return f"its first {last.size:,} bytes are not those counted"


def counted_before(
    session: Session, arrival: Arrival, heads: Sequence[str], *, feed: str, name: str, follow: bool
) -> Counted:
    """The longest recorded file this one begins with, trying the feed's last
    file of this name first when the feed is followed."""
    found = Counted()
    candidates: list[IngestedFile] = []
    if follow:
        found.last = session.scalar(
            select(IngestedFile)
            .where(IngestedFile.feed == feed, IngestedFile.name == name, sql(FILE_COUNTED))
            .order_by(IngestedFile.id.desc())
            .limit(1)
        )
        if found.last is not None:
            candidates.append(found.last)
    if heads:
        candidates += session.scalars(
            select(IngestedFile)
            .where(IngestedFile.head_hash.in_(heads), IngestedFile.size <= arrival.size, sql(FILE_COUNTED))
            .order_by(IngestedFile.size.desc(), IngestedFile.id.desc())
            .limit(CANDIDATES)
        )
    fitting = {c.id: c for c in candidates if _may_begin(arrival, c)}
    if fitting:
        found.earlier, found.lines, found.released = _longest_prefix(arrival, sorted(fitting.values(), key=_size))
    return found


def _size(file: IngestedFile) -> int:
    return file.size


def _may_begin(arrival: Arrival, earlier: IngestedFile) -> bool:
    """Whether `earlier` can be this file's start by its size and hash (no longer, hashed with BLAKE3)."""
    return 0 < earlier.size <= arrival.size and earlier.content_hash.startswith("blake3:")


def _longest_prefix(arrival: Arrival, candidates: list[IngestedFile]) -> tuple[IngestedFile | None, int, bool]:
    """The longest of `candidates` (shortest first) whose content is this file's
    start and ends where a line ends (else what follows would be half a line);
    the lines in it; and whether bytes past it were released.

    One pass over the longest candidate's bytes, block by block. Beyond the
    read-ahead window they are released as they are hashed, so memory stays
    bounded (the head stays, for the parser to read the format from).
    """
    release = candidates[-1].size > arrivals.WINDOW
    if release:
        arrival.keep_head = parse.SAMPLE_BYTES
    hasher = blake3()
    lines = done = 0
    best: tuple[IngestedFile | None, int] = (None, 0)
    data = memoryview(arrival.data)
    for candidate in candidates:
        while done < candidate.size:
            end = min(done + arrivals.BLOCK, candidate.size)
            arrival.arrived(end)
            hasher.update(data[done:end])
            lines += int(np.count_nonzero(np.frombuffer(data[done:end], np.uint8) == 10))
            if release:
                arrival.release(end)
            done = end
        at_line_end = done == arrival.size or data[done - 1] == 0x0A
        if at_line_end and "blake3:" + hasher.copy().hexdigest() == candidate.content_hash:
            best = (candidate, lines)
    data.release()
    kept = best[0] is not None and best[0].size == done
    return best[0], best[1], release and not kept
