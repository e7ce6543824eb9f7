"""The `watchkeeper` console script's first step: load the command without
the cycle collector, then run it.

Loading the CLI creates a few hundred thousand objects (SQLAlchemy, pydantic,
Arrow and watchkeeper's own models), and the cycle collector ran over them
again and again while they were made: 0.05 s of a 0.45 s start. They live as
long as the process, so once loaded they are frozen (`gc.freeze`), and later
collections, during an ingest or in `serve`, no longer walk them. Measured
on `watchkeeper ingest` of 1M-row files, interleaved: usage-csv 0.97 -> 0.82 s,
Asterisk 1.08 -> 1.02 s.

Kept free of imports beyond the standard library so that it runs first.
"""

from __future__ import annotations

import gc


def main() -> None:
    gc.disable()
    try:
        from watchkeeper.cli import main as run
    finally:
        gc.freeze()
        gc.enable()
    run()
