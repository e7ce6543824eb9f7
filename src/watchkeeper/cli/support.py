"""`watchkeeper plans|customers|cases`: the support desk from the command line."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from watchkeeper.auth.principal import Principal, Role
from watchkeeper.cli.common import (
    By,
    Column,
    Json,
    act,
    console,
    context,
    errors,
    fail,
    minute,
    operator,
    parse_duration,
    print_json,
    reading,
    show_list,
    storing,
    when,
)
from watchkeeper.errors import said
from watchkeeper.support import service as desk
from watchkeeper.support import views
from watchkeeper.support.service import ContactRole
from watchkeeper.support.sla import CaseStatus, Priority, Target, Targets

plans_app = typer.Typer(help="Support plans: opening hours (or 24x7), holidays, SLA targets per priority.")
customers_app = typer.Typer(help="Customers, their plan, contacts and services.")
cases_app = typer.Typer(help="Support cases with a work log and SLA clocks in business time.")


def _targets(values: list[str]) -> dict[Priority, Targets]:
    """'p1:first_response=1h,update=4h,resolution=8h' per priority."""
    out: dict[Priority, Targets] = {}
    for value in values:
        priority, _, spec = value.partition(":")
        try:
            fields = {
                Target(name.strip()).value: parse_duration(d)
                for name, _, d in (part.partition("=") for part in spec.split(","))
            }
            out[Priority(priority.strip().lower())] = Targets(**fields)
        except ValueError as exc:
            raise typer.BadParameter(f"{value!r} is not like p1:first_response=1h,update=4h,resolution=8h") from exc
    return out


@plans_app.command("add")
def plans_add(
    name: str,
    hours: Annotated[str, typer.Option(help="'24x7' or 'Mon-Fri 08:00-18:00' (';' between day groups)")],
    target: Annotated[list[str], typer.Option(help="p1:first_response=1h,update=4h,resolution=8h (repeat)")],
    timezone: Annotated[str, typer.Option(help="IANA time zone of the hours")] = "UTC",
    holidays: Annotated[str | None, typer.Option(help="public holidays of DE, GB-ENG, US-CA ...")] = None,
    closed: Annotated[list[str] | None, typer.Option(help="extra closed day, YYYY-MM-DD (repeat)")] = None,
    auto_case: Annotated[bool, typer.Option(help="open a case for every customer-affecting incident")] = True,
    auto_enquire: Annotated[
        bool, typer.Option(help="ask the technical contact by email when a production feed goes silent")
    ] = False,
) -> None:
    """Add a plan; its clocks run in its business time."""
    with storing() as (ctx, session):
        plan = desk.add_plan(
            session=session,
            now=ctx.clock.now(),
            name=name,
            hours=hours,
            timezone=timezone,
            holidays=holidays,
            closed_days=[date.fromisoformat(d) for d in closed or []],
            targets=_targets(target),
            auto_case=auto_case,
            auto_enquire=auto_enquire,
        )
        described = desk.plan_rule(plan).calendar.describe()
    console.print(f"plan {name}: {described}")


@plans_app.command("list")
def plans_list(as_json: Json = False) -> None:
    """Every support plan: its hours, SLA targets, automatic cases and enquiries."""
    with reading() as (_, session):
        rows: list[dict[str, Any]] = [
            {
                "name": p.name,
                "hours": desk.plan_rule(p).calendar.describe(),
                "targets": p.targets,
                "auto_case": p.auto_case,
                "auto_enquire": p.auto_enquire,
            }
            for p in desk.list_plans(session=session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("plan", "hours", "targets (minutes of business time)", "by itself")
    for r in rows:
        automatic = ", ".join(
            what for what, on in (("opens cases", r["auto_case"]), ("asks about silent feeds", r["auto_enquire"])) if on
        )
        table.add_row(r["name"], r["hours"], "; ".join(f"{p}: {v}" for p, v in r["targets"].items()), automatic or "-")
    console.print(table if rows else "no plans; `watchkeeper plans add` makes one")


@customers_app.command("add")
def customers_add(
    name: str,
    plan: Annotated[str, typer.Option(help="support plan name")],
    services: Annotated[str | None, typer.Option(help="regex: services whose names match are theirs")] = None,
    timezone: Annotated[str | None, typer.Option(help="the customer's own time zone for the plan's hours")] = None,
) -> None:
    """Add a customer on a plan; `--services REGEX` makes matching services theirs."""
    with storing() as (ctx, session):
        customer = desk.add_customer(
            session=session, now=ctx.clock.now(), name=name, plan=plan, service_pattern=services, timezone=timezone
        )
        owned = desk.services_of(customer, session=session)
    console.print(f"customer {name} on plan {plan}" + (f"; services: {', '.join(owned)}" if owned else ""))


@customers_app.command("assign")
def customers_assign(
    customer: str,
    service: str,
    move: Annotated[bool, typer.Option("--move", help="take it from the customer it belongs to now")] = False,
) -> None:
    """Make SERVICE the customer's."""
    with storing() as (_, session):
        desk.assign_service(service, customer, session=session, move=move)
    console.print(f"{service} belongs to {customer}")


@customers_app.command("contact")
def customers_contact(
    customer: str,
    name: Annotated[str, typer.Option(help="the person")],
    role: Annotated[ContactRole, typer.Option(help="technical, billing or escalation")],
    channel: Annotated[str, typer.Option(help="Apprise URL: mailto://..., slack://..., tgram://...")],
) -> None:
    """Add a contact to a customer; its technical contacts are the ones enquiries ask."""
    with storing() as (_, session):
        desk.add_contact(session=session, customer=customer, name=name, role=role, channel=channel)
    console.print(f"{role} contact {name} added to {customer}")


@customers_app.command("list")
def customers_list(as_json: Json = False) -> None:
    """Every customer with their plan, services and contacts."""
    with reading() as (_, session):
        rows: list[dict[str, Any]] = [
            {
                "name": c.name,
                "plan": desk.get_plan_by_id(c.plan_id, session=session).name,
                "services": desk.services_of(c, session=session),
                "contacts": [{"name": k.name, "role": k.role} for k in desk.contacts_of(c, session=session)],
            }
            for c in desk.list_customers(session=session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("customer", "plan", "services", "contacts")
    for r in rows:
        table.add_row(
            r["name"],
            r["plan"],
            ", ".join(r["services"]),
            ", ".join(f"{k['name']} ({k['role']})" for k in r["contacts"]),
        )
    console.print(table if rows else "no customers")


STAFF = Principal("cli", Role.ENGINEER)  # the command line is the operator's own


def case_out(case: Any, session: Any, now: Any, *, log: bool = False) -> dict[str, Any]:
    return views.case_out(case, STAFF, session, now, log=log)


@cases_app.command("open")
def cases_open(
    customer: str,
    title: str,
    priority: Annotated[Priority, typer.Option(help="p1 (down) .. p4 (request)")] = Priority.P3,
    description: Annotated[str, typer.Option(help="what the customer reported")] = "",
    by: By = None,
) -> None:
    """Open a case for a customer; its SLA clocks start now."""
    with storing() as (ctx, session):
        case = desk.open_case(
            session=session,
            now=ctx.clock.now(),
            customer=customer,
            title=title,
            priority=priority,
            author=by or operator(),
            description=description,
        )
        out = case_out(case, session, ctx.clock.now())
    due = [f"{c['target']} due {when(c['due_at'])}" for c in out["clocks"] if c["due_at"]]
    console.print(f"case {out['id']} opened for {customer} ({priority})" + (f"; {', '.join(due)}" if due else ""))


@cases_app.command("list")
def cases_list(
    customer: Annotated[str | None, typer.Option(help="only this customer")] = None,
    status: Annotated[CaseStatus | None, typer.Option(help="new, open, pending_customer, resolved, closed")] = None,
    as_json: Json = False,
) -> None:
    """Cases, newest first, with status, priority and the SLA clock due next."""
    with reading() as (ctx, session):
        rows = [
            case_out(c, session, ctx.clock.now())
            for c in desk.list_cases(session=session, customer=customer, status=status)
        ]
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("case"),
        Column("customer", 3),
        Column("priority"),
        Column("status"),
        Column("next SLA moment (UTC)", 2),
        Column("level", 1),
        Column("title", wide=True),
    ]
    lines = [
        [
            str(r["id"]),
            r["customer"],
            r["priority"],
            r["status"],
            minute(r["due_at"]),
            str(r["escalation_level"]),
            r["title"],
        ]
        for r in rows
    ]
    show_list(columns, lines, empty="no cases")


@cases_app.command("show")
def cases_show(case_id: int, as_json: Json = False) -> None:
    """The case, its SLA clocks and its work log."""
    with reading() as (ctx, session):
        case = desk.get_case(case_id, session=session)
        out = case_out(case, session, ctx.clock.now(), log=True)
    if as_json:
        print_json(out)
        return
    console.print(
        f"[bold]case {out['id']}[/bold] {out['customer']}, {out['priority']}, {out['status']}: {out['title']}"
    )
    clocks = Table(
        "clock", "state", "elapsed", "target", "warns", "breaches / breached", title="SLA clocks", title_justify="left"
    )
    for c in out["clocks"]:
        clocks.add_row(
            c["target"],
            c["state"],
            f"{c['elapsed_minutes']:.0f} min",
            f"{c['limit_minutes']:.0f} min",
            when(c["warn_at"]),
            when(c["due_at"] or c["breached_at"]),
        )
    console.print(clocks)
    log = Table("at", "kind", "by", "", title="work log", title_justify="left")
    for e in out["log"]:
        log.add_row(when(e["at"]), e["kind"], e["author"], e["text"])
    console.print(log)


@cases_app.command("reply")
def cases_reply(case_id: int, text: str, by: By = None) -> None:
    """A public reply the customer sees (answers the response clocks)."""
    act(
        lambda s, now: desk.reply(case_id, text, public=True, author=by or operator(), session=s, now=now),
        f"reply added to case {case_id}",
    )


@cases_app.command("note")
def cases_note(case_id: int, text: str, by: By = None) -> None:
    """An internal note; the customer does not see it and it stops no clock."""
    act(
        lambda s, now: desk.reply(case_id, text, public=False, author=by or operator(), session=s, now=now),
        f"note added to case {case_id}",
    )


@cases_app.command("status")
def cases_status(case_id: int, status: CaseStatus, by: By = None) -> None:
    """pending_customer pauses the clocks; resolved stops them."""
    act(
        lambda s, now: desk.set_status(case_id, status, author=by or operator(), session=s, now=now),
        f"case {case_id} {status}",
    )


@cases_app.command("priority")
def cases_priority(case_id: int, priority: Priority, by: By = None) -> None:
    """Set a case's priority: p1 (down) .. p4 (request)."""
    act(
        lambda s, now: desk.set_priority(case_id, priority, author=by or operator(), session=s, now=now),
        f"case {case_id} is {priority}",
    )


@cases_app.command("assign")
def cases_assign(
    case_id: int,
    user: Annotated[str | None, typer.Argument(help="one of `watchkeeper users list`; leave out to unassign")] = None,
    by: By = None,
) -> None:
    """Give the case to one of the operator's staff; they are told on their channels."""
    act(
        lambda s, now: desk.assign(case_id, user, author=by or operator(), session=s, now=now),
        f"case {case_id} assigned to {user}" if user else f"case {case_id} unassigned",
    )


enquiries_app = typer.Typer(help="Ask a customer's technical contact whether a quiet feed is expected.")


@enquiries_app.command("ask")
def enquiries_ask(
    service: str,
    incident: Annotated[int | None, typer.Option(help="the incident the answer should act on")] = None,
    case: Annotated[int | None, typer.Option(help="the case to log question and answer on")] = None,
    if_expected: Annotated[str, typer.Option(help="snooze (the alerts) or test (move the service to test)")] = "snooze",
    snooze: Annotated[str, typer.Option(help="how long 'expected' snoozes, e.g. 24h")] = "24h",
    question: Annotated[str | None, typer.Option(help="instead of the default question")] = None,
    as_json: Json = False,
) -> None:
    """Sends the customer's technical contacts the question and two signed answer links
    (valid 72 h, one answer; `serve` delivers the mail), and prints the links.

    The links start with WATCHKEEPER_PUBLIC_URL: set it to the address customers reach
    `serve` at (unset, the links point at http://127.0.0.1:8080)."""
    from watchkeeper.db import in_transaction
    from watchkeeper.support import enquiries

    ctx = context()
    if "public_url" not in ctx.settings.model_fields_set:
        errors.print(
            f"[yellow]warning:[/yellow] WATCHKEEPER_PUBLIC_URL is not set, so the links point at "
            f"{ctx.settings.public_url}; set it to where customers reach `serve`"
        )
    try:
        choice = enquiries.IfExpected(if_expected)

        def work(session: Any) -> dict[str, Any]:
            secret = enquiries.server_secret(session=session)
            asked = enquiries.ask(
                session=session,
                now=ctx.clock.now(),
                secret=secret,
                base_url=ctx.settings.public_url,
                service=service,
                question=question,
                incident_id=incident,
                case_id=case,
                if_expected=choice,
                snooze=parse_duration(snooze),
            )
            return {
                "id": asked.enquiry.id,
                "question": asked.enquiry.question,
                "expires_at": asked.enquiry.expires_at,
                "links": asked.links,
            }

        out = in_transaction(ctx.sessions, work)
    except (ValueError, LookupError) as exc:
        raise fail(said(exc)) from exc
    if as_json:
        print_json(out)
        return
    console.print(f"enquiry {out['id']}: {out['question']}\nlinks valid until {when(out['expires_at'])}:")
    for answer, link in out["links"].items():
        console.print(f"  {answer}: {link}", soft_wrap=True)
