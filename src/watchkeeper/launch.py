"""The `watchkeeper` console script's first step: load the command without
the cycle collector, then run it.

Loading a command (watchkeeper.cli loads only the one that `argv` names, see
`preload`) creates a few hundred thousand objects (SQLAlchemy, pydantic,
Arrow and watchkeeper's own models), and the cycle collector would run over
them again and again while they are made, about a tenth of the start. They
live as long as the process, so once loaded they are frozen (`gc.freeze`),
and later collections, during an ingest or in `serve`, do not walk them.

`watchkeeper ingest FILE...` also starts reading the first FILE before the
command loads (see watchkeeper.feeds.arrival), so the read overlaps the
imports.

Arrow allocates through jemalloc (ARROW_DEFAULT_MEMORY_POOL, read when Arrow
loads, so set here; a value already set is kept). Arrow's default, mimalloc,
gives freed memory back within milliseconds, so every chunk's buffers would
be faulted in afresh. The pool is chosen by the variable rather than by
`pyarrow.set_memory_pool`, since Arrow's C++ code keeps allocating from its
own default.

NumPy's OpenBLAS runs on one thread (OPENBLAS_NUM_THREADS, likewise kept if
set). watchkeeper does no linear algebra, yet at import OpenBLAS starts a
thread per core that spins for 0.1 CPU-s, on the core the early read uses.

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
