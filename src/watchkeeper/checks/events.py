"""What checks tell the layers above (see watchkeeper.bus): a PBX added or removed, for alerts'
dependency rule that makes its SIP OPTIONS check the parent of its own findings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PbxAdded:
    """A PBX with a SIP OPTIONS check: while that check fires, the rule mutes the PBX's findings."""

    name: str
    rule: str  # the dependency rule's name
    parent: tuple[str, ...]  # matchers, as alerts parses them
    child: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class PbxRemoved:
    """The PBX's checks are gone: its dependency rule, if any, goes with them."""

    name: str
    rule: str
    at: datetime
