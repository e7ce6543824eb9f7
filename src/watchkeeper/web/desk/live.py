"""Live pages: one Server-Sent Events stream per open page, fed by what the domains record.

Every domain event a desk shows leaves a row behind in the same transaction
(an incident's timeline entry for opened, acknowledged, resolved, a note; a
case's work-log entry for a reply). One poller per process reads the newest
of those ids every POLL seconds (two index look-ups, on a thread and a
database connection of its own, so that busy pages never hold it up) and
tells every open stream when one moved; the page then fetches its live parts again (htmx). So
an incident opened by any process on the same database, a scheduler on
another machine included, reaches every browser within about POLL seconds,
and a thousand open pages cost the database what one does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.db import make_reader
from watchkeeper.incidents import service as incidents
from watchkeeper.support import service as desk
from watchkeeper.web.desk.access import Seen

POLL = 0.2  # seconds between two looks at the newest timeline and work-log ids
KEEP_ALIVE = 15.0  # a comment this often keeps proxies from closing a quiet stream
QUEUE = 16  # changes a slow browser may fall behind by; older ones are dropped (it refetches anyway)

router = APIRouter(include_in_schema=False)
Marks = tuple[int, int]


def newest(sessions: sessionmaker[Session]) -> Marks:
    with sessions() as session:
        return incidents.newest_entry(session=session), desk.newest_entry(session=session)


class Hub:
    """The open streams of this process, and the one poller that wakes them."""

    def __init__(self, read: Callable[[], Marks], poll: float = POLL) -> None:
        self._read, self._poll = read, poll
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="desk-live")
        self._streams: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def streams(self) -> int:
        return len(self._streams)

    def join(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE)
        self._streams.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())
        return queue

    def leave(self, queue: asyncio.Queue[str]) -> None:
        self._streams.discard(queue)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        seen = await loop.run_in_executor(self._thread, self._read)
        while self._streams:
            await asyncio.sleep(self._poll)
            try:
                marks = await loop.run_in_executor(self._thread, self._read)
            except Exception:  # the database away for a moment: the pages keep what they show
                continue
            if marks != seen:
                self._tell(json.dumps({"incidents": marks[0], "cases": marks[1]}))
                seen = marks

    def _tell(self, message: str) -> None:
        for queue in list(self._streams):
            if queue.full():
                with suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(message)


def reading(engine: Engine) -> Hub:
    """The hub of an app on `engine`, reading through a connection of its own (made at its first read)."""
    reader = sessionmaker(make_reader(engine))
    return Hub(lambda: newest(reader))


@router.get("/events")
async def events(request: Request, _viewer: Seen) -> StreamingResponse:
    """`event: change` whenever an incident's timeline or a case's log has a new entry."""
    streams: Hub = request.app.state.desk_hub
    queue = streams.join()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEP_ALIVE)
                except TimeoutError:
                    yield ": still here\n\n"
                    continue
                yield f"event: change\ndata: {message}\n\n"
        finally:
            streams.leave(queue)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
