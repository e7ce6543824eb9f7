"""The `watchkeeper` console script's first step: load the command without
the cycle collector, then run it.

Loading a command (watchkeeper.cli loads only the one that `argv` names, see
`preload`) creates a few hundred thousand objects (SQLAlchemy, pydantic,
Arrow and watchkeeper's own models), and the cycle collector ran over them
again and again while they were made: 0.05 s of a 0.45 s start. They live as
long as the process, so once loaded they are frozen (`gc.freeze`), and later
collections, during an ingest or in `serve`, no longer walk them. Measured
on `watchkeeper ingest` of 1M-row files, interleaved: usage-csv 0.97 -> 0.82 s,
Asterisk 1.08 -> 1.02 s.

`watchkeeper ingest FILE...` also starts reading the first FILE before the
command loads (see watchkeeper.feeds.arrival). Interleaved runs on 1M-row
files: Asterisk (250 MB) 1.08 -> 0.95 s and 1.04 -> 0.91 s, usage-csv
(34 MB) 0.82 -> 0.79 s.

Arrow allocates through jemalloc (ARROW_DEFAULT_MEMORY_POOL, read when Arrow
loads, so set here; a value already set is kept). Arrow's default, mimalloc,
gives freed memory back within milliseconds, so every chunk's buffers were
faulted in afresh. Three rounds of interleaved runs on a 1M-row Master.csv:
-85, -45 and -24 ms (of about 0.9 s); usage-csv -7 and -38 ms. Setting the
pool from Python instead (`pyarrow.set_memory_pool`) measured -28 and +20 ms,
presumably because Arrow's C++ code keeps allocating from its own default.

NumPy's OpenBLAS runs on one thread (OPENBLAS_NUM_THREADS, likewise kept if
set). watchkeeper does no linear algebra, yet at import OpenBLAS started a
thread per core that spun for 0.1 CPU-s, on the core the early read uses:
three rounds of interleaved Asterisk runs, 872 -> 848, 924 -> 901 and
903 -> 873 ms.

Kept free of imports beyond the standard library so that it runs first.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path


def main() -> None:
    if sys.platform == "linux":  # where Arrow's wheels carry jemalloc
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _read_early(sys.argv[1:])
    gc.disable()
    try:
        from watchkeeper.cli import main as run
        from watchkeeper.cli import preload

        preload(sys.argv[1:])
    finally:
        gc.freeze()
        gc.enable()
    run()


def _read_early(args: list[str]) -> None:
    """For `ingest`, begin reading its first argument that is a file."""
    if not args or args[0] != "ingest":
        return
    for arg in args[1:]:
        if not arg.startswith("-") and os.path.isfile(arg):
            from watchkeeper.feeds.arrival import read_early

            read_early(Path(arg), whole_lines="--follow" in args)
            return
