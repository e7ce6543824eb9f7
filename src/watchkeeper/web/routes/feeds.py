"""HTTP routes for usage ingest, services, feeds' files and findings."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.feeds import service as services
from watchkeeper.feeds.ingest import ingest_batch
from watchkeeper.feeds.models import ServiceStage
from watchkeeper.feeds.schemas import CountPoint, IngestResult, ServiceNew, ServiceOut, ServicePatch
from watchkeeper.web.deps import Now, Principal, SessionDep, StaffOnly, Tx, Who, file_reader, usage_writer

router = APIRouter(prefix="/api/v1")
Writer = Annotated[Principal, Depends(usage_writer)]
FileReader = Annotated[Principal, Depends(file_reader)]


def _visible(who: Principal, session: Session, name: str) -> None:
    """Another customer's service reads exactly like one that does not exist."""
    if not services.owns_service(who, name, session=session):
        raise services.NotFound(f"no service named {name!r}; services appear with their first record")


_RECORD = {
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "service": {"type": "string"},
        "ts": {"type": "string", "description": "ISO 8601 with a zone (or `timestamp`)"},
        "count": {"type": "integer"},
        "quantity": {"type": "number"},
    },
}
_USAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"type": "array", "items": _RECORD},
                        {"type": "object", "properties": {"records": {"type": "array", "items": _RECORD}}},
                    ]
                },
                "example": [
                    {"service": "voip-de-wholesale", "ts": "2026-11-23T09:15:00Z", "count": 12, "quantity": 734.5}
                ],
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "a header line (timestamp,service,count[,quantity]) and a record per line",
                },
                "example": "timestamp,service,count,quantity\n2026-11-23T09:15:00Z,voip-de-wholesale,12,734.5\n",
            },
        },
    }
}


@router.post(
    "/usage",
    response_model=IngestResult,
    openapi_extra=_USAGE_BODY,
    tags=["usage"],
    responses={415: {"description": "neither JSON nor CSV, or an encoding other than gzip"}},
)
async def post_usage(
    request: Request,
    response: Response,
    session: SessionDep,
    who: Writer,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Ingest a batch of usage records (JSON array or `text/csv`).

    Answers once the accepted rows are committed. Rejected rows are listed
    with their index (and line, for CSV), field and reason. Send an
    `Idempotency-Key` to make a retried batch count once. An ingest token
    limited to some services gets 403 for a batch naming any other.
    """
    # The body is bounded as it arrives (watchkeeper.web.limits); inflating and
    # parsing it run on a worker thread, so the server keeps answering meanwhile.
    limit = request.app.state.settings.max_usage_body_mb << 20
    raw = await request.body()
    body = await run_in_threadpool(_decoded, raw, request.headers.get("content-encoding", ""), limit)
    content_type = request.headers.get("content-type", "application/json")
    may_post = None if who.service_pattern is None else who.may_post
    answer, replayed = await run_in_threadpool(_ingest, request, session, body, content_type, idempotency_key, may_post)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


def _decoded(body: bytes, encoding: str, limit: int) -> bytes:
    """The body without its Content-Encoding: gzip (or deflate) is inflated, up to `limit` bytes.

    A few kilobytes of gzip can claim gigabytes: the inflater stops one byte
    past the limit, so no more than that is ever held."""
    import zlib

    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in ("gzip", "x-gzip", "deflate"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"Content-Encoding {coding!r} is not read here: send gzip or none"
        )
    inflater = zlib.decompressobj(wbits=47 if coding != "deflate" else 15)  # 47: gzip or zlib header
    try:
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not valid {coding}: {exc}") from exc
    if len(inflated) > limit:
        raise HTTPException(
            413,
            f"body inflates to more than {limit >> 20} MB, the limit of this route: "
            "send smaller batches, or raise WATCHKEEPER_MAX_USAGE_BODY_MB",
        )
    return inflated


def _ingest(
    request: Request,
    session: Session,
    body: bytes,
    content_type: str,
    key: str | None,
    may_post: Any = None,
) -> tuple[dict[str, Any], bool]:
    state = request.app.state

    def attempt() -> tuple[dict[str, Any], bool]:
        return ingest_batch(
            body,
            content_type,
            idempotency_key=key,
            session=session,
            clock=state.clock,
            settings=state.settings,
            may_post=may_post,
        )

    try:
        answer = attempt()
        session.commit()
        return answer
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as it did.
        session.rollback()
        return attempt()
    except BaseException:  # a batch refused: web.errors answers it, nothing of it is kept
        session.rollback()
        raise


@router.post(
    "/services",
    response_model=ServiceOut,
    status_code=status.HTTP_201_CREATED,
    tags=["services"],
    responses={
        409: {"description": "a service of that name exists"},
        422: {"description": "a setting or the customer is not valid"},
    },
)
def add_service(new: ServiceNew, tx: Tx, _staff: StaffOnly) -> ServiceOut:
    """Set up a service before its first record; it is watched from now (see `services add`)."""
    patch = ServicePatch.model_validate(new.model_dump(exclude={"name"}, exclude_unset=True))

    def add(session: Session, now: datetime) -> ServiceOut:
        try:
            added = services.add_service(session=session, name=new.name, patch=patch, now=now)
        except services.NotFound as exc:  # the customer the body names: the body is what is wrong
            raise services.Invalid(str(exc)) from exc
        return services.service_out(added)

    return tx.run(add)


@router.get("/services", response_model=list[ServiceOut], tags=["services"])
def list_services(session: SessionDep, who: Who, stage: ServiceStage | None = None) -> list[ServiceOut]:
    visible = services.visible_services(who, session=session)
    return [
        services.service_out(s)
        for s in services.list_services(session=session, stage=stage)
        if visible is None or s.name in visible
    ]


# Service names come from suppliers and may hold a slash ("carrier/de"), which
# arrives decoded however it was sent ("carrier%2Fde"): the name is matched as
# a path. The counts route comes first, so ".../counts" reads a service's counts.
@router.get("/services/{name:path}/counts", response_model=list[CountPoint], tags=["services"])
def get_counts(
    name: str,
    now: Now,
    session: SessionDep,
    who: Who,
    resolution: Literal["minute", "hour"] = "hour",
    since: Annotated[
        AwareDatetime | None,
        Query(
            description="from (ISO 8601 with a zone); default: 24 hours before `until` for minutes, 7 days for hours"
        ),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="to (ISO 8601 with a zone), exclusive; default: now")
    ] = None,
) -> list[CountPoint]:
    """Counts per minute (kept 14 days) or per hour (kept 13 months), oldest first, from `since` to
    `until`: by default the last 24 hours of minutes or the last 7 days of hours. Empty bins are left out."""
    until = until or now
    since = since or until - (timedelta(hours=24) if resolution == "minute" else timedelta(days=7))
    if since >= until:
        raise HTTPException(422, f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    _visible(who, session, name)
    return services.service_counts(session=session, name=name, resolution=resolution, since=since, until=until)


@router.get("/services/{name:path}", response_model=ServiceOut, tags=["services"])
def get_service(name: str, session: SessionDep, who: Who) -> ServiceOut:
    _visible(who, session, name)
    return services.service_out(services.get_service(session=session, name=name))


@router.patch("/services/{name:path}", response_model=ServiceOut, tags=["services"])
def patch_service(name: str, patch: ServicePatch, tx: Tx, _staff: StaffOnly) -> ServiceOut:
    """Change a service's stage and merge settings (a setting given as null is cleared)."""
    return tx.run(
        lambda session, now: services.service_out(
            services.update_service(session=session, name=name, patch=patch, now=now)
        )
    )


def _own_feed(who: Principal, feed: str | None) -> str | None:
    if who.staff:
        return feed
    if feed not in (None, who.feed):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token reads the files of feed {who.feed!r} only")
    return who.feed


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from the stored file row

    feed: str
    name: str
    content_hash: str
    size: int
    sequence: int | None
    format: str
    accepted: int
    rejected: int
    errors: list[Any]
    received_at: datetime
    counted_from: int


class FileFindingOut(BaseModel):
    feed: str
    file: str
    kind: str
    detail: str
    at: datetime
    resolved_at: datetime | None


@router.get("/files", response_model=list[FileOut], tags=["files"])
def list_files(
    session: SessionDep, who: FileReader, feed: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[FileOut]:
    """Files counted, newest first; an ingest token made for a feed reads that feed's only."""
    feed = _own_feed(who, feed)
    return [FileOut.model_validate(f) for f in services.list_files(session=session, feed=feed, limit=limit)]


@router.get("/files/findings", response_model=list[FileFindingOut], tags=["files"])
def list_findings(
    session: SessionDep, who: FileReader, feed: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """File controls that failed: duplicate files, sequence gaps, reused numbers, unreadable files,
    and appended files (a note); `resolved_at` is null while the finding's alert is open."""
    feed = _own_feed(who, feed)
    return [
        {
            "feed": f.feed,
            "file": f.file_name,
            "kind": f.kind,
            "detail": f.detail,
            "at": f.created_at,
            "resolved_at": f.resolved_at,
        }
        for f in services.list_findings(session=session, feed=feed, limit=limit)
    ]
