"""A PBX as a host with its checks grouped: add, list, show, remove; looks and their snapshots. Never commits.

A PBX is its manager interface check (`ami`, named as the PBX), and with a SIP
address also a SIP OPTIONS check (`<name>-options`) that the probes job runs.
Adding one with both publishes `PbxAdded`, on which alerts keep the rule that
makes the OPTIONS check the parent of the PBX's trunk, reload and link
findings: a dead PBX raises one incident, not one per trunk.

The AMI secret is sealed under the server's key (keys.py) in the check's
settings, and never shown again. A look is claimed (its `due_at` moved a
lease ahead) and committed before it goes out to the network, and what it saw
is stored in a new transaction: no row stays locked while a PBX is slow.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from watchkeeper import due
from watchkeeper.bus import publish
from watchkeeper.checks import ami, service
from watchkeeper.checks import pbx as rules
from watchkeeper.checks.events import PbxAdded, PbxRemoved
from watchkeeper.checks.models import Check, CheckKind, CheckStatus, PbxSnapshot
from watchkeeper.checks.probe_rules import jitter, next_run
from watchkeeper.checks.schedule import Schedule
from watchkeeper.clock import Clock, known_zone
from watchkeeper.db import server_key
from watchkeeper.errors import Invalid, NotFound
from watchkeeper.finding import Finding, State

AMI_PORT = 5038
SIP_PORT = 5060
TRANSPORTS = ("udp", "tcp")
DEFAULT_TIMEOUT = 5.0  # seconds for each answer of the PBX
# A whole look (login, trunks, status, each file, channels) ends within this,
# well inside the claim's lease, so a slow PBX is never claimed twice at once.
LOOK_LIMIT = 60.0
LEASE = timedelta(minutes=2)
NAME_LIMIT = 190  # a check's name is at most 200, and "-options" is added to it
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # a file GetConfig reads from Asterisk's config directory


def options_name(name: str) -> str:
    return f"{name}-options"


def rule_name(name: str) -> str:
    return f"pbx {name}"


def parse_address(text: str, default_port: int, what: str) -> tuple[str, int]:
    """'host', 'host:port', '[2001:db8::1]:5038' -> (host, port); Invalid saying how to write it."""
    text = text.strip()
    host, port = text, str(default_port)
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise Invalid(f"{text!r}: write an IPv6 {what} address as [2001:db8::1]:{default_port}")
        port = rest[1:] or port
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host or not re.fullmatch(r"[A-Za-z0-9._:-]{1,253}", host):
        article = "an" if what[:1] in "AEIOU" else "a"
        raise Invalid(
            f"{text!r} is not {article} {what} address like pbx1.example.net or pbx1.example.net:{default_port}"
        )
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise Invalid(f"{text!r}: the {what} port must be a number from 1 to 65535")
    return host, int(port)


@dataclass(frozen=True)
class PbxInput:
    """What `pbx add` and POST /api/v1/pbx say."""

    name: str
    ami: str  # HOST[:5038]
    username: str
    secret: str
    sip: str | None = None  # HOST[:5060]
    sip_transport: str = "udp"
    config_files: Sequence[str] = ()
    customer_id: int | None = None
    interval: timedelta = timedelta(seconds=60)
    service: str | None = None
    zone: str = "UTC"  # the PBX's own zone, in which CoreStatus gives its times
    timeout: float = DEFAULT_TIMEOUT
    chan_sip: bool = False
    labels: dict[str, str] = field(default_factory=dict)


def _check_input(spec: PbxInput) -> None:
    for value, what in ((spec.username, "AMI user"), (spec.secret, "AMI secret")):
        if not value or len(value) > 200 or not value.isprintable() or "\r" in value or "\n" in value:
            raise Invalid(f"the {what} is 1 to 200 printable characters, as manager.conf has it")
    for name in spec.config_files:
        if not _FILE.fullmatch(name):
            raise Invalid(f"{name!r} is not a configuration file name like pjsip.conf (no folders)")
    if len(set(spec.config_files)) != len(spec.config_files):
        raise Invalid("a configuration file is named twice")
    if spec.sip_transport not in TRANSPORTS:
        raise Invalid(f"the SIP transport is udp or tcp, not {spec.sip_transport!r}")
    if not 0.1 <= spec.timeout <= 30:
        raise Invalid("the AMI timeout is 0.1 to 30 seconds")
    try:
        known_zone(spec.zone)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


def add(spec: PbxInput, *, session: Session, now: datetime) -> Check:
    """The PBX's AMI check (due at once), its SIP OPTIONS check if `spec.sip`, and the rule between them."""
    if len(spec.name.strip()) > NAME_LIMIT:
        raise Invalid(f"a PBX name is at most {NAME_LIMIT} characters: its OPTIONS check is named <name>-options")
    _check_input(spec)
    host, port = parse_address(spec.ami, AMI_PORT, "AMI")
    sip = parse_address(spec.sip, SIP_PORT, "SIP") if spec.sip else None
    schedule = Schedule(period=spec.interval, grace=timedelta(0))
    labels = {**spec.labels, "pbx": spec.name.strip()}
    common: dict[str, Any] = {"schedule": schedule, "service": spec.service, "customer_id": spec.customer_id}
    check = service.add(spec.name, session=session, now=now, kind=CheckKind.AMI, labels=labels, **common)
    options = None
    if sip is not None:
        options = service.add(options_name(check.name), session=session, now=now, kind=CheckKind.SIP, **common)
        options.labels = labels
        # The contract of the probes job, which runs SIP OPTIONS checks.
        options.settings = {
            "host": sip[0],
            "port": sip[1],
            "transport": spec.sip_transport,
            "timeout": spec.timeout,
            "user": None,
        }
        options.due_at = now
    check.settings = {
        "host": host,
        "port": port,
        "username": spec.username,
        "secret": server_key(session).seal(spec.secret),
        "timeout": spec.timeout,
        "config_files": list(spec.config_files),
        "zone": spec.zone,
        "chan_sip": spec.chan_sip,
        "options_check": options.name if options is not None else None,
    }
    check.due_at = now
    session.flush()
    if options is not None:
        rule = rules.dependency(check.name, options.name)
        publish(session, PbxAdded(check.name, rule_name(check.name), tuple(rule.parent), tuple(rule.child), now))
    return check


def list_pbxes(*, session: Session, customer_id: int | None = None) -> list[Check]:
    return [c for c in service.list_checks(session=session, customer_id=customer_id) if c.kind is CheckKind.AMI]


def get(name: str, *, session: Session) -> Check:
    check = session.scalar(select(Check).where(Check.name == name, Check.kind == CheckKind.AMI))
    if check is None:
        raise NotFound(f"no PBX {name!r}; `watchkeeper pbx list` shows them")
    return check


def options_check(check: Check, *, session: Session) -> Check | None:
    name = check.settings.get("options_check")
    return None if not name else session.scalar(select(Check).where(Check.name == name))


def remove(check: Check, *, session: Session, now: datetime) -> list[Finding]:
    """The PBX's checks, snapshots and rule; the resolves of what it had firing."""
    last = latest(check, session=session)
    findings = closing_findings(pbx_of(check), last, now=now)
    options = options_check(check, session=session)
    if options is not None:
        findings += service.remove(options, session=session, now=now, of_pbx=True)
        publish(session, PbxRemoved(check.name, rule_name(check.name), now))
    session.execute(delete(PbxSnapshot).where(PbxSnapshot.check_id == check.id))
    findings += service.remove(check, session=session, now=now, of_pbx=True)
    return findings


def pause(check: Check, *, session: Session, now: datetime) -> list[Finding]:
    """Pause a check (service.pause). A PBX's AMI check pauses the PBX: its OPTIONS check too,
    and every alert the PBX has firing (link, trunks, configuration, restart) resolves, as it is
    no longer watched."""
    findings = service.pause(check, session=session, now=now)
    if check.kind is not CheckKind.AMI:
        return findings
    options = options_check(check, session=session)
    if options is not None:
        findings += service.pause(options, session=session, now=now)
    return findings + closing_findings(pbx_of(check), latest(check, session=session), now=now)


def resume(check: Check, *, session: Session, now: datetime) -> None:
    """Resume a check (service.resume); a PBX's AMI check resumes its OPTIONS check too."""
    service.resume(check, session=session, now=now)
    options = options_check(check, session=session) if check.kind is CheckKind.AMI else None
    if options is not None:
        service.resume(options, session=session, now=now)


def closing_findings(pbx: rules.Pbx, last: ami.Snapshot | None, *, now: datetime) -> list[Finding]:
    """Every finding the PBX can have firing, resolved: it is no longer watched. Pure."""
    resolved = [rules.link_finding(pbx, None, now=now)]
    if last is not None:
        resolved += rules.trunk_findings(
            pbx, [rules.Trunk(t.name, "Registered", via=t.via) for t in last.trunks], now=now
        )
        resolved += rules.config_findings(pbx, {}, dict.fromkeys(last.config_hashes, ""), now=now)
        resolved.append(rules.restart_finding(pbx, None, last.uptime, now=now))
    return resolved


# -- snapshots -----------------------------------------------------------------------------


def pbx_of(check: Check) -> rules.Pbx:
    labels = dict(check.labels)
    labels.pop("pbx", None)
    if check.customer is not None:
        labels["customer"] = check.customer.name
    if check.service:
        labels["service"] = check.service
    return rules.Pbx(check.name, service=check.service, labels=labels)


def target_of(check: Check, *, session: Session) -> ami.AmiTarget:
    s = check.settings
    return ami.AmiTarget(
        host=s["host"],
        port=int(s["port"]),
        username=s["username"],
        secret=server_key(session).unseal(s["secret"]),
        timeout=float(s.get("timeout", DEFAULT_TIMEOUT)),
        config_files=tuple(s.get("config_files", ())),
        zone=s.get("zone", "UTC"),
        chan_sip=bool(s.get("chan_sip", False)),
    )


def _snapshot(row: PbxSnapshot) -> ami.Snapshot:
    trunks = [rules.Trunk(**t) for t in row.trunks]
    return ami.Snapshot(
        trunks=trunks,
        uptime=rules.Uptime(row.started_at, row.reloaded_at),
        config_hashes=dict(row.config_hashes),
        channels=row.channels,
        calls=row.calls,
        names=rules.registry_names(trunks),
    )


def _latest_row(check_id: int, session: Session) -> PbxSnapshot | None:
    query = select(PbxSnapshot).where(PbxSnapshot.check_id == check_id)
    return session.scalars(query.order_by(PbxSnapshot.at.desc(), PbxSnapshot.id.desc()).limit(1)).first()


def latest(check: Check, *, session: Session) -> ami.Snapshot | None:
    row = _latest_row(check.id, session)
    return None if row is None else _snapshot(row)


def changes_of(findings: Sequence[Finding]) -> list[str]:
    """What changed, as the timeline says it: the firing restart, reload and config findings. Pure."""
    kinds = (rules.Kind.RELOAD.value, rules.Kind.CONFIG.value)
    return [f.summary for f in findings if f.state is State.FIRING and f.labels.get("kind") in kinds]


def is_change(finding: Finding) -> bool:
    """A restart, reload or changed file: expected inside a maintenance window."""
    return finding.labels.get("kind") in (rules.Kind.RELOAD.value, rules.Kind.CONFIG.value)


# -- the due looks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """A claimed look, as plain data: nothing of the session goes out with it to the network."""

    check_id: int
    pbx: rules.Pbx
    target: ami.AmiTarget
    previous: ami.Snapshot | None
    period: timedelta


@dataclass(frozen=True)
class Looked:
    look: Look
    snapshot: ami.Snapshot | None
    findings: list[Finding]


def claim_due(*, session: Session, now: datetime, limit: int) -> list[Look]:
    """Up to `limit` PBXs due a look, their `due_at` a lease ahead, as plain data for after the commit."""
    claimed = due.claim(
        session, Check, due=Check.due_at, now=now, limit=limit, where=[Check.kind == CheckKind.AMI], lease=LEASE
    )
    return [
        Look(c.id, pbx_of(c), target_of(c, session=session), latest(c, session=session), _period(c))
        for c in claimed
        if c.status is not CheckStatus.PAUSED
    ]


def _period(check: Check) -> timedelta:
    return timedelta(seconds=check.period_seconds)


async def look_all(looks: Sequence[Look], *, clock: Clock) -> list[Looked]:
    """Every claimed look at once, each ending within LOOK_LIMIT."""

    async def one(look: Look) -> Looked:
        try:
            snapshot, findings = await asyncio.wait_for(
                ami.look(look.pbx, look.target, look.previous, clock=clock), LOOK_LIMIT
            )
        except TimeoutError:
            error = f"the look at {look.target.where()} took over {LOOK_LIMIT:g} s"
            snapshot, findings = None, [rules.link_finding(look.pbx, error, now=clock.now())]
        except Exception as exc:  # noqa: BLE001
            # An answer the rules cannot read (a count that is no number) is this
            # PBX's failure; it must not cost the other PBXs of the batch their looks.
            error = f"an answer from {look.target.where()} could not be read ({type(exc).__name__}: {exc})"
            snapshot, findings = None, [rules.link_finding(look.pbx, error, now=clock.now())]
        return Looked(look, snapshot, findings)

    return list(await asyncio.gather(*(one(look) for look in looks)))


def store(looked: Sequence[Looked], *, session: Session, now: datetime) -> list[Finding]:
    """Each look's snapshot, the check's state and next look; the findings to record.
    A PBX removed while it was looked at is left out."""
    findings: list[Finding] = []
    for done in looked:
        check = session.get(Check, done.look.check_id)
        if check is None or check.kind is not CheckKind.AMI or check.status is CheckStatus.PAUSED:
            continue  # removed or paused while it was looked at: what it saw is no one's concern now
        check.due_at = next_run(now, done.look.period, jitter(check.name, done.look.period))
        check.last_ping_at = now
        check.status = CheckStatus.UP if done.snapshot is not None else CheckStatus.DOWN
        check.firing = any(f.state is State.FIRING for f in done.findings)
        if done.snapshot is not None:
            session.add(_row(check.id, now, done.snapshot, changes_of(done.findings)))
        findings += done.findings
    session.flush()
    return findings


def _row(check_id: int, now: datetime, snapshot: ami.Snapshot, changes: list[str]) -> PbxSnapshot:
    return PbxSnapshot(
        check_id=check_id,
        at=now,
        started_at=snapshot.uptime.started_at,
        reloaded_at=snapshot.uptime.reloaded_at,
        trunks=[asdict(t) for t in snapshot.trunks],
        config_hashes=dict(snapshot.config_hashes),
        channels=snapshot.channels,
        calls=snapshot.calls,
        changes=changes,
    )


def prune(*, session: Session, now: datetime, days: int) -> int:
    """Snapshots older than `days`, but never a PBX's last: the next look compares with it."""
    last = select(PbxSnapshot.check_id, func.max(PbxSnapshot.at).label("at")).group_by(PbxSnapshot.check_id).subquery()
    kept = select(PbxSnapshot.id).join(last, and_(PbxSnapshot.check_id == last.c.check_id, PbxSnapshot.at == last.c.at))
    result = session.execute(
        delete(PbxSnapshot).where(PbxSnapshot.at < now - timedelta(days=days), PbxSnapshot.id.not_in(kept))
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- views ---------------------------------------------------------------------------------


def readings(check: Check, *, session: Session, since: datetime, limit: int = 50_000) -> list[dict[str, Any]]:
    """Channels and calls at each look since `since`, oldest first: the capacity time series."""
    query = (
        select(PbxSnapshot.at, PbxSnapshot.channels, PbxSnapshot.calls)
        .where(PbxSnapshot.check_id == check.id, PbxSnapshot.at >= since)
        .order_by(PbxSnapshot.at.desc())
        .limit(limit)
    )
    rows = list(session.execute(query))
    return [{"at": at, "channels": channels, "calls": calls} for at, channels, calls in reversed(rows)]


def timeline(check: Check, *, session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The PBX's changes (restarts, reloads, files), newest first."""
    query = (
        select(PbxSnapshot.at, PbxSnapshot.changes)
        .where(PbxSnapshot.check_id == check.id)
        .order_by(PbxSnapshot.at.desc(), PbxSnapshot.id.desc())
        .limit(500)
    )
    entries = [{"at": at, "change": change} for at, changes in session.execute(query) for change in changes]
    return entries[:limit]


def pbx_view(check: Check, *, session: Session) -> dict[str, Any]:
    """A PBX as lists and the API show it; the secret never."""
    s = check.settings
    options = options_check(check, session=session)
    return {
        "name": check.name,
        "status": check.status,
        "ami": f"{s['host']}:{s['port']}",
        "ami_user": s["username"],
        "sip": None if options is None else f"{options.settings['host']}:{options.settings['port']}",
        "sip_transport": None if options is None else options.settings["transport"],
        "options_check": None if options is None else options.name,
        "config_files": list(s.get("config_files", [])),
        "zone": s.get("zone", "UTC"),
        "interval_seconds": check.period_seconds,
        "service": check.service,
        "customer": check.customer.name if check.customer is not None else None,
        "due_at": check.due_at,
        "last_look_at": check.last_ping_at,
        "created_at": check.created_at,
    }


def pbx_detail(check: Check, *, session: Session, now: datetime, hours: int = 24) -> dict[str, Any]:
    shown = pbx_view(check, session=session)
    row = _latest_row(check.id, session)
    shown["snapshot"] = None
    if row is not None:
        shown["snapshot"] = {
            "at": row.at,
            "started_at": row.started_at,
            "reloaded_at": row.reloaded_at,
            "trunks": [{"name": t["name"], "status": t["status"], "detail": t["detail"]} for t in row.trunks],
            "config_hashes": dict(row.config_hashes),
            "channels": row.channels,
            "calls": row.calls,
        }
    shown["readings"] = readings(check, session=session, since=now - timedelta(hours=hours))
    shown["changes"] = timeline(check, session=session)
    return shown
