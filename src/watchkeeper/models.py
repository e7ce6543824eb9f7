"""Imports every domain's tables so metadata and migrations see them all."""

from watchkeeper.auth.models import ApiToken
from watchkeeper.feeds.models import (
    Feed,
    FileFinding,
    HourCount,
    IngestedFile,
    MinuteCount,
    Service,
    UsageBatch,
)

__all__ = [
    "ApiToken",
    "Feed",
    "FileFinding",
    "HourCount",
    "IngestedFile",
    "MinuteCount",
    "Service",
    "UsageBatch",
]
