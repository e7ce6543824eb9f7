"""Imports every domain's tables so metadata and migrations see them all."""

from watchkeeper.alerts.models import Alert, Dependency, MaintenanceWindow, Silence
from watchkeeper.auth.models import ApiToken
from watchkeeper.checks.models import Check, PbxSnapshot, Ping, ProbeResultRow
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
from watchkeeper.incidents.models import Incident, TimelineEntry
from watchkeeper.intake.models import Integration
from watchkeeper.notify.models import Notification
from watchkeeper.oncall.models import CalendarKey, OncallLayer, OncallMember, OncallOverride, OncallSchedule
from watchkeeper.oncall.policies import (
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    EscalationRoute,
    EscalationStep,
    LevelUser,
    NotificationRule,
)
from watchkeeper.support.models import (
    Case,
    CaseEntry,
    CaseIncident,
    Contact,
    Customer,
    Enquiry,
    ServerSecret,
    SlaBreach,
    SupportPlan,
)

__all__ = [
    "Alert",
    "ApiToken",
    "CalendarKey",
    "Case",
    "Check",
    "ProbeResultRow",
    "CaseEntry",
    "CaseIncident",
    "Contact",
    "Escalation",
    "EscalationLevel",
    "EscalationPolicy",
    "EscalationRoute",
    "EscalationStep",
    "LevelUser",
    "NotificationRule",
    "Customer",
    "ServerSecret",
    "SlaBreach",
    "SupportPlan",
    "Dependency",
    "Enquiry",
    "Incident",
    "Integration",
    "MaintenanceWindow",
    "Silence",
    "TimelineEntry",
    "Feed",
    "FeedState",
    "FileFinding",
    "HourCount",
    "IngestedFile",
    "MinuteCount",
    "Notification",
    "OncallLayer",
    "OncallMember",
    "OncallOverride",
    "OncallSchedule",
    "PbxSnapshot",
    "Ping",
    "Service",
    "UsageBatch",
]
