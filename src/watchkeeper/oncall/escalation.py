"""Escalation rules. Pure: policies, their snapshots, the next step, routes and personal rules.

A policy is ordered levels; each level pages users and/or whoever is on call
for a schedule, then waits its timeout before the next level. After the last
level the policy runs again, `repeat` more times. High urgency escalates so;
low urgency pages the first level once, by each person's low-urgency rules,
and never by voice (a `sip:` channel wakes people; low urgency must not).

An escalation runs on a snapshot of its policy taken when it starts, so an
edit never changes a page already on its way. Passes are numbered from 0 for
the whole escalation: a re-trigger (acknowledgement timeout, urgency raised)
starts a new first pass with a higher number, so every step and every
notification keeps a key of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from watchkeeper.alerts.routing import Matcher, match_all, parse_matchers
from watchkeeper.errors import Invalid
from watchkeeper.finding import Urgency

DEFAULT_TIMEOUT = timedelta(minutes=30)
MAX_REPEAT = 9
VOICE = "sip:"
_SPAN = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """'0m', '90s', '15m', '4h', '1h30m', '2d'."""
    cleaned = text.strip().lower()
    parts = _SPAN.findall(cleaned)
    if not parts or _SPAN.sub("", cleaned).strip():
        raise Invalid(f"{text!r} is not a duration; write it like 30s, 15m, 4h or 1h30m")
    return timedelta(seconds=sum(int(n) * _UNITS[unit] for n, unit in parts))


def duration_text(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds == 0:
        return "0m"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        out += f"{count}{unit}" if count else ""
    return out


def shown(channel: str) -> str:
    """What a list may show of a channel: a voice number whole; of an Apprise URL, its scheme and host
    only (the rest often carries a token, a password or an address)."""
    if wakes(channel):
        return channel
    try:
        parts = urlsplit(channel)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return channel.partition("://")[0] + "://..."
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def wakes(channel: str) -> bool:
    """A voice call: the one channel whose outcome may be an acknowledgement (by DTMF)."""
    return channel.lower().startswith(VOICE)


@dataclass(frozen=True)
class Level:
    users: tuple[str, ...] = ()
    schedule: str | None = None
    timeout: timedelta = DEFAULT_TIMEOUT

    def describe(self) -> str:
        targets = [*self.users] + ([f"on call for {self.schedule}"] if self.schedule else [])
        return f"{', '.join(targets)}; then {duration_text(self.timeout)}"


def parse_level(text: str) -> Level:
    """'users=alice,bob;timeout=15m', 'schedule=primary', 'users=carol;schedule=primary;timeout=1h'."""
    users: tuple[str, ...] = ()
    schedule = None
    timeout = DEFAULT_TIMEOUT
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not value:
            raise Invalid(f"{part!r} in level {text!r}: write key=value, with users, schedule or timeout")
        if key == "users":
            users = tuple(dict.fromkeys(u.strip() for u in value.split(",") if u.strip()))
        elif key == "schedule":
            schedule = value
        elif key == "timeout":
            timeout = parse_duration(value)
        else:
            raise Invalid(f"{key!r} in level {text!r}: a level takes users=, schedule= and timeout=")
    if not users and schedule is None:
        raise Invalid(f"level {text!r} pages nobody: give users=NAME,... or schedule=NAME")
    return Level(users, schedule, timeout)


@dataclass(frozen=True)
class Policy:
    name: str
    levels: tuple[Level, ...]
    repeat: int = 0  # how many more times the whole policy runs after its last level
    ack_timeout: timedelta | None = None  # acknowledged but unresolved this long: paged again

    def __post_init__(self) -> None:
        if not self.levels:
            raise Invalid(f"policy {self.name!r} needs at least one level")
        if not 0 <= self.repeat <= MAX_REPEAT:
            raise Invalid(f"repeat {self.repeat}: a policy repeats 0 to {MAX_REPEAT} times")
        if self.ack_timeout is not None and self.ack_timeout <= timedelta(0):
            raise Invalid("the acknowledgement timeout must be longer than 0")

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repeat": self.repeat,
            "ack_timeout": None if self.ack_timeout is None else int(self.ack_timeout.total_seconds()),
            "levels": [
                {"users": list(lv.users), "schedule": lv.schedule, "timeout": int(lv.timeout.total_seconds())}
                for lv in self.levels
            ],
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> Policy:
        ack = data.get("ack_timeout")
        levels = tuple(
            Level(tuple(lv["users"]), lv["schedule"], timedelta(seconds=lv["timeout"])) for lv in data["levels"]
        )
        return cls(data["name"], levels, int(data["repeat"]), None if ack is None else timedelta(seconds=ack))


@dataclass(frozen=True)
class Step:
    level: int
    repeat: int  # the pass, counted over the whole escalation


def next_step(policy: Policy, step: Step, *, urgency: Urgency, first_pass: int) -> Step | None:
    """The step after `step`, or None: the policy ran out (or, low urgency, it pages once)."""
    if urgency is Urgency.LOW:
        return None
    if step.level + 1 < len(policy.levels):
        return Step(step.level + 1, step.repeat)
    if step.repeat - first_pass < policy.repeat:
        return Step(0, step.repeat + 1)
    return None


@dataclass(frozen=True)
class Rule:
    """One way to reach a person: an Apprise URL or `sip:NUMBER`, `delay` after their level is paged."""

    channel: str
    delay: timedelta = timedelta(0)
    key: str = ""  # what names it in a notification's key: a rule's id, or a channel's place


def rules_for(rules: Sequence[Rule], urgency: Urgency) -> list[Rule]:
    """The rules a page of `urgency` follows, soonest first: low urgency never calls."""
    kept = [r for r in rules if urgency is Urgency.HIGH or not wakes(r.channel)]
    return sorted(kept, key=lambda r: r.delay)


@dataclass(frozen=True)
class Route:
    """Incidents this route sends to `policy`: every matcher matches (none: every incident, the default).

    The labels matchers see are the incident's alerts' labels plus its
    `service`, `customer`, `severity` and `urgency`."""

    policy: str
    matchers: tuple[Matcher, ...] = ()

    @classmethod
    def parse(cls, policy: str, matchers: Sequence[str]) -> Route:
        try:
            return cls(policy, parse_matchers(matchers))
        except ValueError as exc:
            raise Invalid(str(exc)) from exc


def choose(routes: Sequence[Route], labels: Mapping[str, str]) -> str | None:
    """The policy of the first route that takes the incident; None if none does."""
    return next((r.policy for r in routes if match_all(r.matchers, labels)), None)
