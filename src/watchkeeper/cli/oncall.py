"""`watchkeeper oncall`: schedules, their layers and overrides, who is on call, and calendar URLs."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session

from watchkeeper.cli.common import Json, act, console, print_json, reading, show_table, storing
from watchkeeper.cli.escalation import policies_app, routes_app, rules_app
from watchkeeper.oncall import service
from watchkeeper.oncall.rotation import Shift

oncall_app = typer.Typer(
    help="On-call: schedules (rotations in layers, overrides, who is on call), escalation policies, "
    "the routes to them, and personal notification rules."
)
schedules_app = typer.Typer(help="On-call schedules, each in its own time zone.")
layers_app = typer.Typer(help="A schedule's rotations; a later layer overrides the earlier ones where it has someone.")
overrides_app = typer.Typer(help="A user covering part of a schedule, whatever its layers say.")
oncall_app.add_typer(schedules_app, name="schedules")
oncall_app.add_typer(layers_app, name="layers")
oncall_app.add_typer(overrides_app, name="overrides")
oncall_app.add_typer(policies_app, name="policies")
oncall_app.add_typer(routes_app, name="routes")
oncall_app.add_typer(rules_app, name="rules")

Schedule = Annotated[str, typer.Argument(help="the schedule's name (or id)")]
WHEN = "an ISO 8601 time; without a zone it is read in the schedule's zone: 2026-12-24T18:00"


def _instant(text: str, zone: ZoneInfo, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{what} {text!r} is not {WHEN}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"--start {text!r} is not a date like 2026-12-07") from exc


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _shift_text(shift: Shift | None, zone: ZoneInfo) -> str:
    if shift is None:
        return "nobody"
    return f"{shift.user} ({_local(shift.start, zone)} - {_local(shift.end, zone)})"


@schedules_app.command("add")
def schedules_add(
    name: str,
    tz: Annotated[str, typer.Option("--timezone", "--tz", help="IANA time zone of handoffs and restrictions")] = "UTC",
) -> None:
    """A schedule; then give it layers (`watchkeeper oncall layers add NAME --users a,b --shift 1w`)."""
    act(lambda session, now: service.add_schedule(name, session=session, now=now, tz=tz), f"schedule {name} ({tz})")


@schedules_app.command("list")
def schedules_list(as_json: Json = False) -> None:
    """Every schedule with its zone and how many layers it has."""
    with reading() as (ctx, session):
        rows = [service.schedule_view(s, now=ctx.clock.now()) for s in service.list_schedules(session=session)]
    if as_json:
        print_json(rows)
        return
    show_table(
        ("id", "schedule", "time zone", "layers", "overrides"),
        ([str(r["id"]), r["name"], r["tz"], str(len(r["layers"])), str(len(r["overrides"]))] for r in rows),
        empty="no schedules; `watchkeeper oncall schedules add primary --timezone Europe/Berlin`",
    )


@schedules_app.command("show")
def schedules_show(schedule: Schedule, as_json: Json = False) -> None:
    """A schedule's layers (1 the lowest) and the overrides not yet over."""
    with reading() as (ctx, session):
        shown = service.schedule_view(service.get_schedule(schedule, session=session), now=ctx.clock.now())
    if as_json:
        print_json(shown)
        return
    zone = ZoneInfo(shown["tz"])
    console.print(f"[bold]{shown['name']}[/bold] (id {shown['id']}, {shown['tz']})", highlight=False)
    show_table(
        ("layer", "users in turn", "shift", "handoff", "from", "only"),
        (
            [
                str(la["number"]),
                ", ".join(la["users"]),
                la["shift"],
                la["handoff"],
                str(la["start"]),
                la["restrictions"] or "always",
            ]
            for la in shown["layers"]
        ),
        empty="no layers; `watchkeeper oncall layers add SCHEDULE --users a,b --shift 1w --start 2026-12-07`",
    )
    if shown["overrides"]:
        show_table(
            ("override", "user", "from", "to"),
            ([str(o["id"]), o["user"], _local(o["start"], zone), _local(o["end"], zone)] for o in shown["overrides"]),
            empty="",
        )


@schedules_app.command("remove")
def schedules_remove(schedule: Schedule) -> None:
    """Remove a schedule with its layers, overrides and calendar URLs."""
    act(lambda session, _: service.remove_schedule(schedule, session=session), f"removed schedule {schedule}")


@layers_app.command("add")
def layers_add(
    schedule: Schedule,
    users: Annotated[str, typer.Option(help="who takes turns, in order: ann,bob,cho")],
    start: Annotated[str, typer.Option(help="the date of the first handoff: 2026-12-07")],
    shift: Annotated[str, typer.Option(help="each turn's length: 12h (elapsed), 1d or 1w (local calendar)")] = "1w",
    handoff: Annotated[str, typer.Option(help="the local time turns change: 09:00")] = "09:00",
    restrict: Annotated[
        str | None, typer.Option(help="on call only in these weekly hours: 'Mon-Fri 08:00-18:00'")
    ] = None,
    name: Annotated[str, typer.Option(help="a name for the layer")] = "",
) -> None:
    """A rotation on top of the schedule's layers: it overrides them where it has someone."""
    first = _date(start)

    def add(session: Session, now: datetime) -> None:
        service.add_layer(
            schedule,
            session=session,
            now=now,
            users=users.split(","),
            shift=shift,
            start=first,
            handoff=handoff,
            restrict=restrict,
            name=name,
        )

    act(
        add, f"{schedule}: {users} take turns of {shift} from {first} {handoff}" + (f", {restrict}" if restrict else "")
    )


@layers_app.command("remove")
def layers_remove(
    schedule: Schedule, number: Annotated[int, typer.Argument(help="the layer's number in `schedules show`")]
) -> None:
    """Remove one layer; the layers above it move down one."""
    act(
        lambda session, _: service.remove_layer(schedule, number, session=session),
        f"{schedule}: layer {number} removed",
    )


@oncall_app.command("override")
def override(
    schedule: Schedule,
    user: Annotated[str, typer.Argument(help="who covers")],
    start: Annotated[str, typer.Option("--from", help=WHEN)],
    end: Annotated[str, typer.Option("--to", help=WHEN)],
) -> None:
    """A user covers [--from, --to) of a schedule, whatever its layers say."""
    with storing() as (ctx, session):
        zone = ZoneInfo(service.get_schedule(schedule, session=session).tz)
        made = service.add_override(
            schedule,
            user,
            session=session,
            now=ctx.clock.now(),
            start=_instant(start, zone, "--from"),
            end=_instant(end, zone, "--to"),
        )
        span = f"{_local(made.starts_at, zone)} - {_local(made.ends_at, zone)}"
        said = f"override {made.id}: {user} on call for {schedule} {span}"
    console.print(said, highlight=False)


@overrides_app.command("remove")
def overrides_remove(
    schedule: Schedule, override_id: Annotated[int, typer.Argument(help="the override's id in `schedules show`")]
) -> None:
    """Remove an override; the layers decide again."""
    act(
        lambda session, _: service.remove_override(schedule, override_id, session=session),
        f"{schedule}: override {override_id} removed",
    )


@oncall_app.command("who")
def who(
    at: Annotated[str | None, typer.Option(help="at this instant instead of now (ISO 8601 with a zone)")] = None,
    as_json: Json = False,
) -> None:
    """Who is on call now, and who is next, in every schedule."""
    with reading() as (ctx, session):
        when = _instant(at, ZoneInfo("UTC"), "--at") if at else ctx.clock.now()
        answers = service.who(session=session, at=when)
        rows = [service.on_call_view(a) for a in answers]
        lines = [
            [a.schedule.name, _shift_text(a.now, ZoneInfo(a.schedule.tz)), _shift_text(a.next, ZoneInfo(a.schedule.tz))]
            for a in answers
        ]
    if as_json:
        print_json(rows)
        return
    show_table(("schedule", "on call", "next"), lines, empty="no schedules; `watchkeeper oncall schedules add NAME`")


@oncall_app.command("shifts")
def shifts(
    schedule: Schedule,
    days: Annotated[int, typer.Option(min=1, max=366, help="how many days to show")] = 7,
    start: Annotated[str | None, typer.Option("--from", help=f"from (default: now); {WHEN}")] = None,
    as_json: Json = False,
) -> None:
    """The final shifts of a schedule, gaps included, in its local time."""
    with reading() as (ctx, session):
        zone = ZoneInfo(service.get_schedule(schedule, session=session).tz)
        begin = _instant(start, zone, "--from") if start else ctx.clock.now()
        found = service.shifts(schedule, session=session, start=begin, end=begin + timedelta(days=days))
    if as_json:
        print_json([service.shift_view(s) for s in found])
        return
    show_table(
        ("from", "to", "on call"),
        ([_local(s.start, zone), _local(s.end, zone), s.user or "[red]nobody (gap)[/red]"] for s in found),
        empty="no shifts",
    )


@oncall_app.command("calendar")
def calendar(
    schedule: Annotated[str | None, typer.Argument(help="a schedule's calendar (or --user)")] = None,
    user: Annotated[str | None, typer.Option(help="a user's own shifts, in every schedule")] = None,
    base_url: Annotated[str, typer.Option(help="where the API is reached")] = "http://localhost:8000",
    revoke: Annotated[bool, typer.Option("--revoke", help="stop every calendar URL of it instead")] = False,
) -> None:
    """A secret iCalendar URL for a calendar app to subscribe to (the URL is the secret: it is shown once)."""
    if revoke:
        with storing() as (_, session):
            gone = service.revoke_calendar_keys(session=session, schedule=schedule, user=user)
        console.print(f"{gone} calendar URL(s) revoked")
        return
    with storing() as (ctx, session):
        key = service.make_calendar_key(session=session, now=ctx.clock.now(), schedule=schedule, user=user)
        path = (
            f"/api/v1/schedules/{service.get_schedule(schedule, session=session).id}/calendar.ics"
            if schedule is not None
            else f"/api/v1/users/{quote(user or '', safe='')}/oncall.ics"
        )
    console.print(f"{base_url.rstrip('/')}{path}?key={key}", highlight=False, soft_wrap=True)
