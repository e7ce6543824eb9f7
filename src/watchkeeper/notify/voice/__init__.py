"""Paging by telephone through the operator's own SIP trunk or PBX (docs/voice.md)."""

from watchkeeper.notify.voice.call import place_call
from watchkeeper.notify.voice.outcome import CallOutcome, CallStatus, Trunk

__all__ = ["CallOutcome", "CallStatus", "Trunk", "place_call"]
