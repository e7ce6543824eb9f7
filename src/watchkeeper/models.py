"""Imports every domain's tables so metadata and migrations see them all."""

from watchkeeper.alerts.models import Alert
from watchkeeper.auth.models import ApiToken
from watchkeeper.feeds.models import (
    Feed,
    FeedState,
    FileFinding,
    HourCount,
    IngestedFile,
    MinuteCount,
    Service,
    UsageBatch,
)

__all__ = [
    "Alert",
    "ApiToken",
    "Feed",
    "FeedState",
    "FileFinding",
    "HourCount",
    "IngestedFile",
    "MinuteCount",
    "Service",
    "UsageBatch",
]
