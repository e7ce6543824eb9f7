"""Settings from the environment (prefix WATCHKEEPER_) or a `.env` file."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from watchkeeper.clock import known_zone


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WATCHKEEPER_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///watchkeeper.db",
        description="SQLAlchemy URL; a SQLite file in the working directory by default, "
        "or postgresql+psycopg://user@host/db.",
    )
    minute_retention_days: int = Field(default=14, ge=1)
    hour_retention_days: int = Field(default=396, ge=1, description="13 months")
    idempotency_retention_days: int = Field(default=7, ge=1)
    ping_retention_days: int = Field(default=90, ge=1, description="days of heartbeat pings kept")
    probe_retention_days: int = Field(default=30, ge=1, description="days of probe results kept")
    probe_concurrency: int = Field(
        default=200, ge=1, le=10_000, description="probes in flight at once, each with its own timeout"
    )
    pbx_snapshot_retention_days: int = Field(
        default=31, ge=1, description="days of PBX looks kept: their channels and calls, trunks and changes"
    )
    max_future_skew_minutes: int = Field(
        default=24 * 60,
        ge=0,
        description="Records stamped further ahead of the server clock are rejected: "
        "a supplier clock that is a day fast is a finding, not traffic.",
    )
    asterisk_timezone: str = Field(
        default="UTC", description="Time zone of Asterisk Master.csv dates unless a feed says"
    )
    inbox_settle_seconds: float = Field(
        default=2.0,
        ge=0,
        description="An inbox file is taken only when unchanged this long, so a file "
        "still being copied in is not read half-written.",
    )
    scheduler_tick_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How often the scheduler looks for due work. An idle tick costs well under a "
        "millisecond (bench/scheduler.py); half a second keeps a silence alert under a second late.",
    )
    group_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="A new group's first alert waits this long before its incident opens, so alerts "
        "raised together join one incident, and a blip that resolves at once opens none.",
    )
    group_by: str = Field(
        default="",
        description="Comma-separated labels that group alerts into incidents; empty: by service, "
        "or by alertname and instance for alerts without a service.",
    )
    flap_window_minutes: float = Field(default=15.0, gt=0)
    flap_threshold: int = Field(
        default=4, ge=2, description="Fire/resolve changes within the flap window that make an alert flap."
    )
    desk_channel: str | None = Field(
        default=None,
        description="Apprise URL of the operator's desk mailbox: incidents that are low urgency only because "
        "they fall outside a customer's support hours are emailed there (recorded, emailed, no page).",
    )
    secret_key: str | None = Field(
        default=None,
        description="The server's key: signs the answer links of customer enquiries and encrypts the passwords in "
        "notification channels. Unset, a key file is made once (see key_file). Never kept in the database.",
    )
    key_file: str | None = Field(
        default=None,
        description="Where the server's key is kept when secret_key is unset (made once, mode 0600); default: "
        "watchkeeper.key beside the SQLite database, or in the working directory for PostgreSQL.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Where customers reach this server, for the links sent to them."
    )
    voice_trunk: str | None = Field(
        default=None,
        description="The SIP trunk or PBX voice pages are placed through: "
        "sip://USER:PASSWORD@HOST[:PORT][?transport=tcp]; unset, a sip: rule cannot call.",
    )
    voice_calls: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Voice pages ringing at once: the calls of one batch are placed together, so people paged "
        "at one level ring together; more wait for a line. Keep it within the trunk's channels.",
    )
    max_usage_body_mb: int = Field(
        default=16,
        ge=1,
        le=4096,
        description="Largest usage batch `POST /api/v1/usage` takes, in MB, as sent and after gzip is inflated; "
        "larger is refused with 413. A batch is held in memory while it is read (about ten times its size).",
    )
    incident_auto_resolve: bool = Field(
        default=True, description="An incident resolves by itself when all its alerts have resolved."
    )

    @field_validator("asterisk_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


@lru_cache
def get_settings() -> Settings:
    return Settings()


# Read from the environment by other parts than Settings: who is at the keyboard
# (cli.common.operator) and the tests' PostgreSQL.
OTHER_VARIABLES = frozenset({"WATCHKEEPER_USER", "WATCHKEEPER_TEST_PG_URL"})


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """WATCHKEEPER_* variables that set nothing (a misspelt setting is otherwise silently
    ignored), each with the setting it was probably meant to be."""
    import difflib

    known = {f"WATCHKEEPER_{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES
    said = []
    for name in sorted(environ):
        if name.upper().startswith("WATCHKEEPER_") and name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
            said.append(f"{name} is not a setting" + (f"; did you mean {close[0]}?" if close else ""))
    return said
