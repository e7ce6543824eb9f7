"""What a PBX's manager interface says, as findings. Pure.

The messages are the Asterisk Manager Interface's (AMI) responses and events,
as mappings of header to value, so these rules hold whichever client read
them. Every finding of a PBX carries `pbx=<name>` and `parent=<name>`: a
dependency rule (`dependency`) lets the PBX's own SIP OPTIONS check mute its
trunks' findings, so a dead PBX raises one incident, not one per trunk.

A restart, a reload or a changed configuration file is a change, not a fault:
its finding is of low urgency, fires when the change is first seen and
resolves at the next look that sees none. Whether it was expected is for the
alerts' maintenance windows to say.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from watchkeeper.finding import Finding, Severity, State, Urgency

SOURCE = "ami"
Message = Mapping[str, str]

# Asterisk derives FullyBooted's start from whole seconds of uptime, and the
# look that reads it runs a moment later: a start that moves by less is the same start.
SAME_START = timedelta(seconds=5)


class Kind(StrEnum):
    TRUNK = "trunk"
    RELOAD = "reload"
    CONFIG = "config"
    AMI = "ami"


class Health(StrEnum):
    UP = "up"
    DOWN = "down"
    PENDING = "pending"  # on its way (a REGISTER sent, a challenge answered): the next look decides


# Registration states of res_pjsip_outbound_registration and chan_sip, and the
# peer and contact states of PeerStatus and ContactStatus, lower-cased.
_UP = {"registered", "reachable"}
_DOWN = {"unregistered", "rejected", "failed", "unreachable", "timeout", "no authentication", "stopped"}


@dataclass(frozen=True)
class Pbx:
    name: str
    service: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Trunk:
    """A trunk's state as the PBX tells it; `via` says which list or event told it."""

    name: str
    status: str
    via: str = "registration"  # "registration" or "reachability"
    detail: str = ""  # the server (URI or host), a cause, a contact URI
    client: str = ""  # a PJSIP registration's client URI, which Registry events name

    @property
    def health(self) -> Health:
        status = self.status.strip().lower()
        if status in _UP:
            return Health.UP
        if status in _DOWN:
            return Health.DOWN
        return Health.PENDING


@dataclass(frozen=True)
class Uptime:
    started_at: datetime
    reloaded_at: datetime


@dataclass(frozen=True)
class Dependency:
    """An alerts dependency rule, as the matcher strings `alerts` parses."""

    parent: list[str]
    child: list[str]
    equal: list[str] = field(default_factory=list)


def _get(message: Message, name: str) -> str:
    value = message.get(name, "")
    return value if isinstance(value, str) else ""


def _labels(pbx: Pbx, kind: Kind, **more: str) -> dict[str, str]:
    return {**pbx.labels, "pbx": pbx.name, "parent": pbx.name, "kind": kind.value, **more}


# --- trunks


def trunks_from_outbound_registrations(events: Iterable[Message]) -> list[Trunk]:
    """PJSIPShowRegistrationsOutbound's OutboundRegistrationDetail events, one trunk each."""
    return [
        Trunk(_get(e, "ObjectName"), _get(e, "Status"), detail=_get(e, "ServerUri"), client=_get(e, "ClientUri"))
        for e in events
        if _get(e, "Event") == "OutboundRegistrationDetail"
    ]


def trunks_from_registry_entries(events: Iterable[Message]) -> list[Trunk]:
    """chan_sip's SIPshowregistry RegistryEntry events; a registration there has
    no name of its own, so it is named user@host as `sip show registry` shows it."""
    return [
        Trunk(f"{_get(e, 'Username')}@{_get(e, 'Host')}", _get(e, "State"), detail=_get(e, "Host"))
        for e in events
        if _get(e, "Event") == "RegistryEntry"
    ]


def trunk_from_registry_event(event: Message, names: Mapping[str, str]) -> Trunk:
    """A Registry event. PJSIP's names no registration, only its server and
    client URIs (Domain, Username), so `names` maps a known server URI (or
    chan_sip host) to the trunk the registration list named."""
    domain, user = _get(event, "Domain"), _get(event, "Username")
    name = names.get(user) or names.get(domain)
    if name is None:
        host = re.sub(r"^sips?:", "", domain)
        name = f"{user}@{host}" if _get(event, "ChannelType").upper() == "SIP" else host
    return Trunk(name, _get(event, "Status"), detail=_get(event, "Cause"))


def trunk_from_reachability(event: Message) -> Trunk | None:
    """A ContactStatus (PJSIP) or PeerStatus (chan_sip, PJSIP) event; None for
    the states that say nothing of reachability (Created, Updated, Lagged...)."""
    kind = _get(event, "Event")
    if kind == "ContactStatus":
        name, status = _get(event, "EndpointName") or _get(event, "AOR"), _get(event, "ContactStatus")
        detail = _get(event, "URI")
    elif kind == "PeerStatus":
        name, status = _get(event, "Peer").split("/", 1)[-1], _get(event, "PeerStatus")
        detail = _get(event, "Cause")
    else:
        return None
    trunk = Trunk(name, status, via="reachability", detail=detail)
    return trunk if name and trunk.health is not Health.PENDING else None


def registry_names(trunks: Iterable[Trunk]) -> dict[str, str]:
    """Client URI and server URI (or host) -> trunk name, for
    `trunk_from_registry_event`; the client URI tells apart two trunks to one server."""
    names = {t.detail: t.name for t in trunks if t.detail}
    names.update({t.client: t.name for t in trunks if t.client})
    return names


def trunk_finding(pbx: Pbx, trunk: Trunk, *, now: datetime) -> Finding | None:
    """Down fires, up resolves, on its way says nothing."""
    health = trunk.health
    if health is Health.PENDING:
        return None
    what = "registration" if trunk.via == "registration" else "reachability"
    state = State.FIRING if health is Health.DOWN else State.RESOLVED
    because = f" ({trunk.detail})" if trunk.detail and health is Health.DOWN else ""
    return Finding(
        dedup_key=f"{SOURCE}:{pbx.name}:{'trunk' if trunk.via == 'registration' else 'reach'}:{trunk.name}",
        source=SOURCE,
        service=pbx.service,
        severity=Severity.ERROR,
        state=state,
        summary=f"PBX {pbx.name}: trunk {trunk.name} {what} is {trunk.status}{because}",
        observed_at=now,
        labels=_labels(pbx, Kind.TRUNK, trunk=trunk.name),
        details={"status": trunk.status, "detail": trunk.detail},
    )


def trunk_findings(pbx: Pbx, trunks: Iterable[Trunk], *, now: datetime) -> list[Finding]:
    return [f for f in (trunk_finding(pbx, t, now=now) for t in trunks) if f is not None]


# --- restarts and reloads


def uptime_from_core_status(response: Message, *, zone: tzinfo) -> Uptime:
    """CoreStatus gives its start and last reload as a date and a time in the
    PBX's own time zone, which `zone` names."""

    def at(date: str, time: str) -> datetime:
        return datetime.fromisoformat(f"{_get(response, date)}T{_get(response, time)}").replace(tzinfo=zone)

    return Uptime(at("CoreStartupDate", "CoreStartupTime"), at("CoreReloadDate", "CoreReloadTime"))


def uptime_from_fully_booted(event: Message, *, now: datetime) -> Uptime:
    """FullyBooted gives seconds since start and since the last reload."""
    return Uptime(
        now - timedelta(seconds=int(_get(event, "Uptime") or 0)),
        now - timedelta(seconds=int(_get(event, "LastReload") or 0)),
    )


def _change_finding(
    pbx: Pbx,
    key: str,
    kind: Kind,
    summary: str | None,
    *,
    now: datetime,
    labels: Mapping[str, str] | None = None,
    **details: str,
) -> Finding:
    return Finding(
        dedup_key=key,
        source=SOURCE,
        service=pbx.service,
        severity=Severity.INFO if summary is None else Severity.WARNING,
        state=State.RESOLVED if summary is None else State.FIRING,
        summary=summary or f"PBX {pbx.name}: no {kind.value} change since the last look",
        observed_at=now,
        labels=_labels(pbx, kind, **(labels or {})),
        urgency=Urgency.LOW,
        details=dict(details),
    )


def restart_finding(pbx: Pbx, previous: Uptime | None, current: Uptime, *, now: datetime) -> Finding:
    """Fires when the PBX started or reloaded since `previous`; else resolves.
    With nothing to compare (the first look), it resolves."""
    summary, change = None, ""
    if previous is not None and current.started_at - previous.started_at > SAME_START:
        summary, change = f"PBX {pbx.name} restarted at {current.started_at.isoformat()}", "restart"
    elif previous is not None and current.reloaded_at - previous.reloaded_at > SAME_START:
        summary, change = f"PBX {pbx.name} reloaded at {current.reloaded_at.isoformat()}", "reload"
    return _change_finding(pbx, f"{SOURCE}:{pbx.name}:reload", Kind.RELOAD, summary, now=now, change=change)


def reload_event_finding(pbx: Pbx, event: Message, *, now: datetime) -> Finding:
    """A Reload event as it arrives: the module reloaded, or All."""
    module = _get(event, "Module") or "All"
    summary = f"PBX {pbx.name} reloaded {module}"
    status = _get(event, "Status")
    if status not in ("", "0"):
        summary += f" (status {status})"
    return _change_finding(pbx, f"{SOURCE}:{pbx.name}:reload", Kind.RELOAD, summary, now=now, change="reload")


# --- configuration files


def config_hash(response: Message) -> str:
    """The SHA-256 of a GetConfig answer's categories and lines, in the order
    Asterisk numbers them; None of its other headers (ActionID) count."""
    entries: list[tuple[tuple[int, ...], str]] = []
    for name, value in response.items():
        match = re.fullmatch(r"(Category|Line)-(\d+)(?:-(\d+))?", name, flags=re.IGNORECASE)
        if match is None:
            continue
        line = -1 if match.group(3) is None else int(match.group(3))
        entries.append(((int(match.group(2)), line), f"{match.group(1).lower()} {value}"))
    text = "\n".join(entry for _, entry in sorted(entries))
    return hashlib.sha256(text.encode()).hexdigest()


def config_findings(
    pbx: Pbx, previous: Mapping[str, str | None], current: Mapping[str, str | None], *, now: datetime
) -> list[Finding]:
    """One finding per file named in `current` (file -> hash, None when it
    could not be read): fires when its hash differs from the one before or
    it cannot be read; resolves when unchanged or first seen."""
    found = []
    for name, digest in current.items():
        before = previous.get(name)
        if digest is None:
            summary: str | None = f"PBX {pbx.name}: config file {name} could not be read"
        elif before is not None and before != digest:
            summary = f"PBX {pbx.name}: config file {name} changed"
        else:
            summary = None
        key = f"{SOURCE}:{pbx.name}:config:{name}"
        labels = {"file": name}
        found.append(
            _change_finding(pbx, key, Kind.CONFIG, summary, now=now, labels=labels, file=name, hash=digest or "")
        )
    return found


# --- channels and the manager link


def channel_count(events: Iterable[Message]) -> int:
    """CoreShowChannels's CoreShowChannel events: one per active channel."""
    return sum(1 for e in events if _get(e, "Event") == "CoreShowChannel")


def calls_in_progress(response: Message) -> int:
    """CoreStatus's CoreCurrentCalls."""
    return int(_get(response, "CoreCurrentCalls") or 0)


@dataclass(frozen=True)
class Reading:
    """A gauge's value at one look, for capacity reports to keep."""

    name: str
    value: float
    labels: dict[str, str]


def channel_readings(pbx: Pbx, *, channels: int, calls: int) -> list[Reading]:
    labels = {**pbx.labels, "pbx": pbx.name}
    return [Reading("pbx_channels_active", channels, labels), Reading("pbx_calls_active", calls, labels)]


def link_finding(pbx: Pbx, error: str | None, *, now: datetime) -> Finding:
    """The manager link itself: fires with `error` when the PBX could not be
    asked (refused, lost, timed out), resolves when a look succeeded."""
    return Finding(
        dedup_key=f"{SOURCE}:{pbx.name}:ami",
        source=SOURCE,
        service=pbx.service,
        severity=Severity.CRITICAL,
        state=State.RESOLVED if error is None else State.FIRING,
        summary=f"PBX {pbx.name}: manager interface {'answers' if error is None else 'down: ' + error}",
        observed_at=now,
        labels=_labels(pbx, Kind.AMI),
    )


def dependency(pbx: str, options_check: str) -> Dependency:
    """The rule that makes the PBX's SIP OPTIONS check the parent of its trunks, its
    restarts and reloads and its manager link: a PBX that stopped answering SIP
    raises the one alert of its OPTIONS check, not one per trunk."""
    kinds = "|".join(k.value for k in (Kind.TRUNK, Kind.RELOAD, Kind.AMI))
    return Dependency(parent=[f"check={options_check}"], child=[f"pbx={pbx}", f"kind=~{kinds}"])
