"""Paging by telephone through the operator's own SIP trunk or PBX (docs/voice.md)."""

from watchkeeper.notify.voice.call import CallOutcome, CallStatus, Trunk, place_call

__all__ = ["CallOutcome", "CallStatus", "Trunk", "place_call"]
