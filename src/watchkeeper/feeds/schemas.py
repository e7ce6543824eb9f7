"""API shapes for usage ingest and services."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from watchkeeper.clock import known_zone
from watchkeeper.feeds.models import ServiceStage
from watchkeeper.feeds.rhythm import Params, Sensitivity, check_holidays, minute_of, parse_active_hours


def parse_minutes(text: str) -> int:
    """'90m', '6h', '2d' or '1h30m' to whole minutes."""
    if text.strip().isdigit():
        # A bare number is minutes to one person and hours to the next: say which.
        raise ValueError(
            f"{text.strip()!r} has no unit: say {text.strip()}m (minutes), {text.strip()}h (hours) "
            f"or {text.strip()}d (days)"
        )
    match = re.fullmatch(r"\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*", text.lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 15m, 6h or 1h30m")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days * 1440 + hours * 60 + minutes


# Settings that people give as a duration ("6h"), as `services set` and a
# replay's SERVICES.yaml take them; stored as whole minutes.
DURATION_SETTINGS = {
    "min_silence": "min_silence_minutes",
    "max_silence": "max_silence_minutes",
    "off_hours_max_silence": "off_hours_max_silence_minutes",
}


MAX_SILENCE_MINUTES = 366 * 1440  # a silence limit past a year is a typo, not a setting


def validation_problems(exc: ValidationError) -> str:
    """What pydantic refused, field by field, in one line a person reads."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
    )


def with_minutes(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with `min_silence` and `max_silence` (a duration such as "6h",
    or a number of minutes; null to clear) as the `*_minutes` settings they set."""
    out = dict(values)
    for short, full in DURATION_SETTINGS.items():
        if short in out and full in out:
            raise ValueError(f"give {short} or {full}, not both")
        if short in out:
            raw = out.pop(short)
            if raw is None or (isinstance(raw, int) and not isinstance(raw, bool)):
                out[full] = raw
            else:
                out[full] = parse_minutes(str(raw))
    return out


class ServiceSettings(BaseModel):
    """Per-service knobs an operator tunes; the feed model reads them."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(default="UTC", description="IANA zone the service's week is learned in")
    sensitivity: Sensitivity = Sensitivity.NORMAL
    min_silence_minutes: int | None = Field(
        default=None, ge=1, le=MAX_SILENCE_MINUTES, description="never alert sooner"
    )
    max_silence_minutes: int | None = Field(
        default=None, ge=1, le=MAX_SILENCE_MINUTES, description="always alert by then"
    )
    snooze_until: datetime | None = Field(default=None, description="no alerts before this instant")
    active_hours: str | None = Field(
        default=None,
        description="local hours activity is expected, e.g. 'Mon-Fri 08:00-18:00; Sat 09:00-13:00' (docs/hours.md); "
        "outside them no drop alerts, and a silence alerts (low urgency) only past off_hours_max_silence",
    )
    off_hours_max_silence_minutes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SILENCE_MINUTES,
        description="with active_hours: outside them a silence alerts, at low urgency, only past this "
        "(default: 72 h, or max_silence if longer)",
    )
    holidays: str | None = Field(
        default=None, description="country or country-subdivision (DE, US-CA) whose public holidays count as Sundays"
    )
    value_per_record: float | None = Field(
        default=None,
        ge=0,
        le=1e9,
        description="what one record is worth (an average call's revenue, in `currency`): a silence or drop "
        "then says its missing records as revenue at risk",
    )
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code of value_per_record")

    @field_validator("active_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_active_hours(value)
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str | None) -> str | None:
        return None if value is None else check_holidays(value)

    def params(self, stage: str) -> Params:
        """The feed model's view of these settings for a service at `stage`."""
        return Params(
            timezone=self.timezone,
            sensitivity=self.sensitivity,
            min_silence=self.min_silence_minutes,
            max_silence=self.max_silence_minutes,
            snooze_until=None if self.snooze_until is None else minute_of(self.snooze_until),
            active_hours=None if self.active_hours is None else parse_active_hours(self.active_hours),
            holidays=self.holidays,
            off_hours_max_silence=self.off_hours_max_silence_minutes,
            test=stage == ServiceStage.TEST,
        )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("snooze_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("snooze_until needs a time zone offset, e.g. 2026-11-24T08:00:00Z")
        return value

    @model_validator(mode="before")
    @classmethod
    def _durations(cls, values: Any) -> Any:
        return with_minutes(values) if isinstance(values, dict) else values

    @model_validator(mode="after")
    def _ordered(self) -> ServiceSettings:
        low, high = self.min_silence_minutes, self.max_silence_minutes
        if low is not None and high is not None and low > high:
            raise ValueError("min_silence_minutes must not exceed max_silence_minutes")
        off = self.off_hours_max_silence_minutes
        if off is not None and self.active_hours is None:
            raise ValueError("off_hours_max_silence applies outside active hours: set active_hours too, or clear it")
        if off is not None and high is not None and off < high:
            raise ValueError(
                "off_hours_max_silence must not be shorter than max_silence: "
                "outside active hours a silence may last longer, not less"
            )
        return self


class ServiceOut(BaseModel):
    name: str
    stage: ServiceStage
    first_seen: datetime | None = Field(description="the first record's time; null until it sends")
    last_seen: datetime | None = Field(description="the last record's time; null until it sends")
    last_received_at: datetime | None
    total_count: int
    total_quantity: float
    created_at: datetime
    settings: ServiceSettings
    customer: str | None = None


class ServicePatch(BaseModel):
    """Stage and settings to change; settings given are merged into the current ones."""

    model_config = ConfigDict(extra="forbid")

    stage: ServiceStage | None = None
    settings: dict[str, Any] | None = Field(
        default=None,
        description=(
            "settings to change, merged into the current ones; null clears one. min_silence and max_silence take "
            'a duration ("6h", "90m", "1h30m") or whole minutes, as do min_silence_minutes and '
            "max_silence_minutes; see ServiceSettings for the rest"
        ),
    )
    customer: str | None = Field(default=None, description='assign to this customer; "" to unassign')


class ServiceNew(ServicePatch):
    """A service set up before its first record: watched from now, alerting past max_silence if none comes."""

    name: str = Field(min_length=1, max_length=200)


class CountPoint(BaseModel):
    at: datetime
    count: int
    quantity: float


class RowErrorOut(BaseModel):
    index: int
    line: int | None = None
    field: str
    reason: str


class IngestResult(BaseModel):
    accepted: int
    rejected: int
    records: int = Field(description="usage records counted (sum of count over accepted rows)")
    services: int
    new_services: list[str]
    errors: list[RowErrorOut]
    errors_truncated: bool = False
