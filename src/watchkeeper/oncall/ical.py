"""Shifts as an iCalendar feed (RFC 5545) that calendar apps subscribe to. Pure.

Each shift is one event, in UTC, whose UID stays the same as long as the
shift does (schedule, user and start), so a calendar that fetches the feed
again updates it rather than adding a copy. Gaps are no events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from icalendar import Calendar, Event

from watchkeeper.oncall.rotation import Shift

# What a feed covers around the instant it is fetched.
PAST = timedelta(days=7)
AHEAD = timedelta(days=8 * 7)
PRODUCT = "-//watchkeeper//on-call//EN"


def feed(name: str, shifts: Iterable[tuple[str, Shift]], *, now: datetime, host: str = "watchkeeper") -> bytes:
    """A calendar called `name` of the (schedule name, shift) pairs given; gaps are left out."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for schedule, shift in shifts:
        if shift.user is None:
            continue
        event = Event()
        event.add("uid", f"{schedule}/{shift.user}/{shift.start:%Y%m%dT%H%M%SZ}@{host}")
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", f"On call: {shift.user} ({schedule})")
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body
