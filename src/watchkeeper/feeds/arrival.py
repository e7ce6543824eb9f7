"""A file read into memory on a thread while it is parsed, hashed as it arrives.

Reading a 250 MB file before parsing it cost a fifth of an ingest: the copy,
and the first touch of as much fresh memory. Here a thread reads it block by
block into anonymous memory (`mmap(-1, size)`: pages exist only once
written) and hashes each block as it lands; the parser asks `arrived(n)`
before it looks at the first n bytes.

Not a file mapping: a file truncated while mapped kills the process with
SIGBUS, and no input may do that. A file that shrinks or grows while it is
read is refused as unreadable (the inbox only takes files that have settled).

Memory is bounded whatever the file's size: the reader stays at most WINDOW
bytes ahead of what the parser has `release`d, and hands the released pages
back to the system as it goes (a month of Master.csv can be several GB; read
whole, it could exhaust memory and have the process killed). A file within
the window, such as an hour's supplier file, is read straight through.

`watchkeeper ingest FILE` starts reading FILE before the command has even
loaded (`read_early`, called by watchkeeper.launch): loading takes one core
for 0.35 s while the other is idle, and reading and hashing a 250 MB file
costs 0.2 CPU-s that the parsing threads would otherwise share their cores
with. `Arrival.of(path)` takes that early reading if the file has not
changed since it began. Only the standard library and blake3 are imported
here, so that it is quick to load first.

The content hash is BLAKE3 (`b3sum FILE` prints it): 43 ms for a 250 MB
Master.csv where SHA-256 takes 208 ms, even with the CPU's SHA instructions.
Reading and SHA-256 together would outlast the command's loading, on a core
the parsing threads then need; reading and BLAKE3 end before it.
"""

from __future__ import annotations

import mmap
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from blake3 import blake3

from watchkeeper.feeds.errors import UnreadableFile

BLOCK = 8 * 1024 * 1024
# Read at most this far ahead of the parser. Big enough that `watchkeeper
# ingest` reads an hour's 250 MB Master.csv whole while the command loads.
WINDOW = 256 * 1024 * 1024


class Arrival:
    """`data` fills from the start while `arrived` waits for what the parser needs; `digest` is its BLAKE3 hash.

    Use it as a context manager: leaving stops the reading (a file found
    unreadable early is not read to its end), waits for the thread, and
    lets go of `data`.
    """

    def __init__(self, path: Path, *, whole_lines: bool = False) -> None:
        found = path.stat()
        if not stat.S_ISREG(found.st_mode):  # a pipe would block the open until someone writes to it
            kind = "directory" if stat.S_ISDIR(found.st_mode) else "pipe" if stat.S_ISFIFO(found.st_mode) else "device"
            raise OSError(f"not a regular file but a {kind}: ingest a file")
        # Which file this is (device, inode, modification time), for feeds.append.origin.
        self.identity = tuple(getattr(found, k, 0) for k in ("st_dev", "st_ino", "st_mtime_ns"))
        self.whole_lines = whole_lines
        self.size = _whole_lines_end(path, found.st_size) if whole_lines else found.st_size
        # data[:keep_head] is never handed back, however far it is released
        # (feeds.append: the format and layout are read from the head after
        # the counted prefix was hashed and let go).
        self.keep_head = 0
        self.data: mmap.mmap | bytes = _anonymous(self.size) if self.size else b""
        self._filled = 0
        self._released = 0  # the parser is done with data[:_released]
        self._needed = 0  # the parser waits for data[:_needed]
        self._handed_back = 0  # pages of data[:_handed_back] are returned to the system
        self.most_held = 0  # the most bytes read and not yet handed back, at any time
        self._stopped = False
        self._failure: UnreadableFile | None = None
        self._changed = threading.Condition()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="wk-read")
        self._digest = self._pool.submit(self._read, path)

    @classmethod
    def of(cls, path: Path, *, whole_lines: bool = False) -> Arrival:
        """An Arrival of `path`: the one `read_early` began, if the file is the
        same one and unchanged since and read the same way, else a new one.

        `whole_lines`: the file is still being appended to (a live
        Master.csv): read it up to its last line end as its size was when
        opened; a line being written, and what is appended while it is
        read, are left for the next ingest.
        """
        identity, early = _early.pop(os.path.realpath(path), (None, None))
        if early is not None:
            if identity is not None and identity == _identity(path) and early.whole_lines == whole_lines:
                return early
            early.__exit__(None, None, None)
        return cls(path, whole_lines=whole_lines)

    def __enter__(self) -> Arrival:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()  # a reader waiting for room stops waiting
        self._pool.shutdown(wait=True)
        # Unmapping 250 MB takes the kernel about 70 ms: let a thread of its own
        # drop the last reference, off the ingest's path to its commit.
        parcel, self.data = [self.data], b""
        threading.Thread(target=parcel.clear, name="wk-unmap", daemon=True).start()

    def arrived(self, end: int) -> None:
        """Wait until the first `end` bytes are in `data` (all of them if `end` is past the end).

        Asking for more than the window beyond what was released widens it
        for this once (a single line longer than the window), rather than wait forever.
        """
        end = min(end, self.size)
        with self._changed:
            if end > self._needed:
                self._needed = end
                self._changed.notify_all()
            self._changed.wait_for(lambda: self._filled >= end or self._failure is not None)
        if self._failure is not None and self._filled < end:
            raise self._failure

    def release(self, end: int) -> None:
        """The parser is done with the first `end` bytes: their memory may go
        back to the system, and the reading go on that much further."""
        with self._changed:
            if end > self._released:
                self._released = end
                self._changed.notify_all()

    def digest(self) -> str:
        """The BLAKE3 hash (hex) of the whole file, once it is read; UnreadableFile if it could not be."""
        return self._digest.result()

    def _read(self, path: Path) -> str:
        hasher = blake3()
        if not self.size:
            return hasher.hexdigest()
        view = memoryview(self.data)
        try:
            with path.open("rb") as source:
                while self._filled < self.size and not self._stopped:
                    self._hand_back(self._room())
                    block = view[self._filled : min(self._filled + BLOCK, self.size)]
                    got = source.readinto(block)
                    if not got:
                        raise UnreadableFile(
                            f"the file shrank while it was read (to {self._filled:,} of "
                            f"{self.size:,} bytes); ingest it once it is complete"
                        )
                    hasher.update(block[:got])
                    with self._changed:
                        self._filled += got
                        self._changed.notify_all()
                if not self._stopped and not self.whole_lines and source.read(1):
                    raise UnreadableFile("the file grew while it was read; ingest it once it is complete")
        except OSError as exc:
            failure = UnreadableFile(f"could not read the file: {exc}")
            self._fail(failure)
            raise failure from exc
        except UnreadableFile as exc:
            self._fail(exc)
            raise
        return hasher.hexdigest()

    def _room(self) -> int:
        """Wait until the window has room for another block; return where the parser's release reached."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopped or self._filled < max(self._released + WINDOW, self._needed))
            return self._released

    def _hand_back(self, released: int) -> None:
        """Return the whole pages of data[:released] to the system (on the
        reading thread, off the parser's path)."""
        end = released - released % mmap.PAGESIZE
        if end > self._handed_back and isinstance(self.data, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            start = max(self._handed_back, self.keep_head - self.keep_head % mmap.PAGESIZE)
            if end > start:
                self.data.madvise(mmap.MADV_DONTNEED, start, end - start)
            self._handed_back = end
        kept = min(self.keep_head, self._handed_back)
        self.most_held = max(self.most_held, min(self._filled + BLOCK, self.size) - self._handed_back + kept)

    def _fail(self, failure: UnreadableFile) -> None:
        with self._changed:
            self._failure = failure
            self._changed.notify_all()


# What `read_early` began, by real path: the file's identity then, and its Arrival.
_early: dict[str, tuple[tuple[int, int, int, int] | None, Arrival]] = {}


def read_early(path: Path, *, whole_lines: bool = False) -> None:
    """Begin reading `path` for a later `Arrival.of(path)` in this process.
    A file that cannot be read is left for that call to report."""
    try:
        identity = _identity(path)
        _early[os.path.realpath(path)] = identity, Arrival(path, whole_lines=whole_lines)
    except OSError:
        pass


TAIL = 64 * 1024


def _whole_lines_end(path: Path, size: int) -> int:
    """Where the last line of the file's first `size` bytes that has its line end ends (0 if none does)."""
    end = size
    with path.open("rb") as source:
        while end > 0:
            start = max(0, end - TAIL)
            source.seek(start)
            cut = source.read(end - start).rfind(b"\n")
            if cut >= 0:
                return start + cut + 1
            end = start
    return 0


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    """What tells that a file is the same and unchanged: device, inode, size, modification time."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


def _anonymous(size: int) -> mmap.mmap:
    """Private anonymous memory. mmap's default, shared, is backed like a file
    in shared memory: reading 250 MB into it cost 0.30 s of system time against
    0.19 s, and freeing it 0.07 s against 0.025."""
    if hasattr(mmap, "MAP_PRIVATE"):
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return mmap.mmap(-1, size)  # Windows: no flags
