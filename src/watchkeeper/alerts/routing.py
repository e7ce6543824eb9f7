"""What happens to a firing alert: muted (silence, maintenance, a parent's alert), held, grouped. Pure.

The rules follow Alertmanager where operators already know it (matchers,
inhibit rules with `equal` labels, group_by), with two deliberate changes:

- an inhibit rule's `equal` labels must be present and non-empty on both the
  parent and the child. Alertmanager treats "missing on both" as equal, so a
  parent alert without an `instance` label would mute every child without one;
  hiding an unrelated outage is worse than one extra incident.
- a maintenance window can be weekly (weekdays and local times) or cron plus a
  duration, in its own time zone, not only a one-off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from watchkeeper import weekly
from watchkeeper.finding import Severity, Urgency

Labels = Mapping[str, str]
DAY_NAMES = weekly.DAY_NAMES
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


class Op(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True)
class Matcher:
    """`name op value`; a missing label reads as "" (as in Alertmanager), so `team!=db` matches no team."""

    name: str
    op: Op
    value: str

    @cached_property
    def _regex(self) -> Any:
        return compile_regex(self.value)

    def matches(self, labels: Labels) -> bool:
        actual = labels.get(self.name, "")
        if self.op is Op.EQ:
            return actual == self.value
        if self.op is Op.NE:
            return actual != self.value
        found = self._regex.fullmatch(actual) is not None
        return found if self.op is Op.RE else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def compile_regex(pattern: str) -> Any:
    """A matcher's regular expression, in RE2, as Alertmanager's are (Go's
    regexp is RE2): matching takes time linear in the label, where Python's
    `re` took 3.5 s, holding the write lock, for `(a+)+$` against 28
    characters, doubling with each one more. re2.error if it does not compile."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print its own line on stderr for every bad pattern
    return re2.compile(pattern, options=options)


def parse_matcher(text: str) -> Matcher:
    """'service=voip-de', 'severity!=info', 'instance=~"pbx-.*"', 'team!~db|ops'."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a matcher like name=value, name!=value, name=~regex or name!~regex")
    name, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    elif value[:1] in ('"', "'") or value[-1:] in ('"', "'"):
        raise ValueError(f'{text!r}: the value\'s quotes are unbalanced; write name="value"')
    elif value[:1] in ("=", "~"):
        # 'service==x' is a typo far more often than a value starting with '='; quote it if meant.
        raise ValueError(f'{text!r}: the value starts with {value[0]!r}; write name="{value}" if that is meant')
    matcher = Matcher(name, Op(op), value)
    if matcher.op in (Op.RE, Op.NRE):
        import re2

        try:
            compile_regex(value)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise ValueError(f"{text!r}: the regular expression does not compile in RE2 ({reason})") from exc
    return matcher


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(t) for t in texts)


def match_all(matchers: Sequence[Matcher], labels: Labels) -> bool:
    return all(m.matches(labels) for m in matchers)


def check_selective(matchers: Sequence[Matcher]) -> None:
    """Refuse matchers that would match an alert with no labels at all, i.e. everything."""
    if not matchers:
        raise ValueError("give at least one matcher, e.g. service=voip-de")
    if match_all(matchers, {}):
        raise ValueError(
            "these matchers match every alert; at least one must need a label value (e.g. service=voip-de)"
        )


# Made-up label values no real service, instance or alert name is likely to
# have. A regex that takes most of them takes nearly any value at all: `.+`,
# `\S+`, `[^x]+`, `.{1,64}`; one that names something (`voip-.*`, `pbx-\d+`,
# `(sms|mms)-uk`) takes none of them.
PROBE_VALUES = ("x", "0", "Q-9", "zz_probe.17", "wk probe 7f3a", "Ünïcode", "a" * 64)


def narrows(matcher: Matcher) -> bool:
    """Whether one matcher picks out some alerts rather than all that have the label.

    `name="value"` narrows; `name=~regex` narrows when it refuses the empty
    value and at least half of PROBE_VALUES; `!=` and `!~` never do (they
    leave everything but one kind in)."""
    if matcher.op is Op.EQ:
        return matcher.value != ""
    if matcher.op is Op.RE:
        taken = sum(matcher.matches({matcher.name: value}) for value in PROBE_VALUES)
        return not matcher.matches({}) and taken * 2 < len(PROBE_VALUES)
    return False


def check_narrow(matchers: Sequence[Matcher]) -> None:
    """Refuse matchers that would mute every alert, or every alert that has a label
    (`service=~".+"`): one of them must name something. `force` is how to mean it."""
    check_selective(matchers)
    if not any(narrows(m) for m in matchers):
        raise ValueError(
            "these matchers match every alert that has the label, or nearly: one must name something "
            '(service=voip-de, instance=~"pbx-.*"); to mute everything on purpose, add --force'
        )


# ---------------------------------------------------------------- silences and windows


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class Window:
    """A maintenance window: one-off (starts_at..ends_at), weekly, or cron + duration, in `timezone`."""

    id: int
    name: str
    matchers: tuple[Matcher, ...]
    timezone: str = "UTC"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: frozenset[int] = frozenset()
    start: time | None = None
    end: time | None = None
    cron: str | None = None
    duration: timedelta | None = None

    def end_if_active(self, now: datetime) -> datetime | None:
        """When the window in force at `now` ends (UTC), or None if none is."""
        if self.cron is not None and self.duration is not None:
            return _cron_end(self.cron, self.duration, ZoneInfo(self.timezone), now)
        if self.hours is not None:
            return self.hours.end_if_in_force(now, ZoneInfo(self.timezone))
        if self.starts_at is not None and self.ends_at is not None and self.starts_at <= now < self.ends_at:
            return self.ends_at
        return None

    @cached_property
    def hours(self) -> weekly.WeeklyHours | None:
        """A weekly window's hours: each of its weekdays from start to end, past midnight if end <= start."""
        if self.start is None or self.end is None:
            return None
        return weekly.weekly(self.weekdays, self.start, self.end)

    def describe(self) -> str:
        if self.cron is not None and self.duration is not None:
            return f"cron '{self.cron}' for {_minutes_text(self.duration)} ({self.timezone})"
        if self.start is not None and self.end is not None:
            days = ",".join(DAY_NAMES[d] for d in sorted(self.weekdays))
            return f"{days} {self.start:%H:%M}-{self.end:%H:%M} ({self.timezone})"
        assert self.starts_at is not None and self.ends_at is not None
        return f"{self.starts_at:%Y-%m-%d %H:%M}Z - {self.ends_at:%Y-%m-%d %H:%M}Z"


def _minutes_text(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _cron_end(expression: str, duration: timedelta, zone: ZoneInfo, now: datetime) -> datetime | None:
    since = (now - duration).astimezone(zone)
    latest: datetime | None = None
    for occurrence in CronSim(expression, since):
        begins = occurrence.astimezone(UTC)
        if begins > now:
            break
        latest = begins + duration
    return latest if latest is not None and latest > now else None


def parse_weekdays(text: str) -> frozenset[int]:
    """'Mon-Fri', 'Sat,Sun', 'Tue' to weekday numbers (Monday 0); see `watchkeeper.weekly`."""
    return frozenset(weekly.parse_days(text))


def check_cron(expression: str) -> None:
    try:
        CronSim(expression, datetime(2026, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ValueError(f"{expression!r} is not a cron expression ({exc})") from exc


# ---------------------------------------------------------------- dependencies


@dataclass(frozen=True)
class InhibitRule:
    """While an alert matching `parent` fires, alerts matching `child` with the same `equal` labels are muted."""

    id: int
    name: str
    parent: tuple[Matcher, ...]
    child: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    def mutes(self, parent_labels: Labels, child_labels: Labels) -> bool:
        if not (match_all(self.parent, parent_labels) and match_all(self.child, child_labels)):
            return False
        return all(parent_labels.get(n) and parent_labels.get(n) == child_labels.get(n) for n in self.equal)


@dataclass(frozen=True)
class Parent:
    """A firing alert that might mute others; `customer` is its service's customer, if any."""

    id: int
    labels: Labels
    summary: str
    customer: str | None = None


def may_mute(parent_customer: str | None, child_customer: str | None) -> bool:
    """A parent mutes only alerts of its own customer, or of no customer.

    Muting names each side to the other (the child's reason names the parent,
    the parent's incident lists the child), and one customer's outage must not
    hide, or tell of, another's. The operator's own parent (of no customer)
    therefore mutes no customer's alert either: that alert pages as usual.
    """
    return child_customer is None or child_customer == parent_customer


# ---------------------------------------------------------------- the decision


class MuteKind(StrEnum):
    SILENCED = "silenced"
    MAINTENANCE = "maintenance"
    INHIBITED = "inhibited"


@dataclass(frozen=True)
class Mute:
    kind: MuteKind
    ref: int  # silence, window or parent alert id
    reason: str
    until: datetime | None  # when to look again; None: when the parent resolves


def mute_for(
    labels: Labels,
    now: datetime,
    *,
    alert_id: int | None = None,
    customer: str | None = None,
    silences: Iterable[Silence] = (),
    windows: Iterable[Window] = (),
    rules: Iterable[InhibitRule] = (),
    parents: Iterable[Parent] = (),
) -> Mute | None:
    """Why a firing alert with `labels` (of `customer`) must not page now, or None if it may."""
    for silence in silences:
        if silence.active(now) and match_all(silence.matchers, labels):
            reason = (
                f"silenced by silence {silence.id} until {silence.ends_at:%Y-%m-%d %H:%M}Z "
                f"({silence.created_by}: {silence.comment})"
            )
            return Mute(MuteKind.SILENCED, silence.id, reason, silence.ends_at)
    for window in windows:
        if match_all(window.matchers, labels) and (ends := window.end_if_active(now)) is not None:
            reason = f"in maintenance window {window.name!r} ({window.describe()}) until {ends:%Y-%m-%d %H:%M}Z"
            return Mute(MuteKind.MAINTENANCE, window.id, reason, ends)
    rules = list(rules)
    for parent in parents:
        if parent.id == alert_id or not may_mute(parent.customer, customer):
            continue
        for rule in rules:
            if rule.mutes(parent.labels, labels):
                reason = f"depends on alert {parent.id} ({parent.summary}) by rule {rule.name!r}"
                return Mute(MuteKind.INHIBITED, parent.id, reason, None)
    return None


def urgency(severity: str, *, stage: str | None, given: Urgency) -> Urgency:
    """Test services and warning/info alerts are recorded, never paged."""
    if given is Urgency.LOW or stage == "test" or severity in (Severity.WARNING, Severity.INFO):
        return Urgency.LOW
    return Urgency.HIGH


def flapping(changes: Sequence[datetime], now: datetime, *, window: timedelta, threshold: int) -> bool:
    """`threshold` or more fire/resolve changes within `window` make an alert flap."""
    return sum(1 for at in changes if at > now - window) >= threshold


def group_labels(labels: Labels, group_by: Sequence[str] = (), customer: str | None = None) -> dict[str, str]:
    """The labels that decide which incident an alert joins (Alertmanager's group_by).

    By default, a feed or any alert with a `service` label groups by service;
    anything else by alertname and instance. The customer of the alert's
    service is always part of the group, so two customers' alerts never share
    an incident (which each of them would read); a `customer` label from the
    sender takes no part, as it could make an alert of no customer join one.
    """
    if group_by:
        grouped = {name: labels.get(name, "") for name in group_by}
    elif labels.get("service"):
        grouped = {"service": labels["service"]}
    else:
        grouped = {"alertname": labels.get("alertname", ""), "instance": labels.get("instance", "")}
    grouped.pop("customer", None)
    if customer:
        grouped["customer"] = customer
    return grouped


GROUP_KEY_LIMIT = 500  # alerts.group_key and incidents.group_key are String(500)


def group_key(grouped: Labels) -> str:
    """`name=value,...` in name order; past GROUP_KEY_LIMIT, its head and a hash of the whole
    (long label values from a sender must not fail the insert, nor two groups share a key)."""
    key = ",".join(f"{name}={grouped[name]}" for name in sorted(grouped))
    if len(key) <= GROUP_KEY_LIMIT:
        return key
    import hashlib

    return f"{key[: GROUP_KEY_LIMIT - 20]}…#{hashlib.sha256(key.encode()).hexdigest()[:16]}"


_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.:/@-]+")


def silence_matchers(labels: Labels) -> list[str]:
    """Matchers that silence just this alert: its service, else its alertname and
    instance, else all its labels (severity and source aside)."""
    if labels.get("service"):
        names: Sequence[str] = ("service",)
    elif labels.get("alertname") or labels.get("instance"):
        names = [n for n in ("alertname", "instance") if labels.get(n)]
    else:
        names = sorted(n for n in labels if n not in ("severity", "source"))
    out = []
    for name in names:
        value = labels.get(name, "")
        out.append(f"{name}={value}" if _PLAIN_VALUE.fullmatch(value) else str(Matcher(name, Op.EQ, value)))
    return out


def check_label_names(names: Iterable[str]) -> tuple[str, ...]:
    names = tuple(n.strip() for n in names if n.strip())
    for name in names:
        if not _LABEL_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a label name (letters, digits and _, not starting with a digit)")
    return names
