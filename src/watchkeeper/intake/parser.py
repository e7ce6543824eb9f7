"""What every intake parser does: a payload into findings and rejected items, and the answer its sender expects. Pure.

Each kind of sender (Alertmanager, PagerDuty, generic JSON...) has its own
payload and its own idea of a good answer, which its retry logic reads: the
parser owns both, so a route only looks the parser up, parses, records and
answers. A sender's item that cannot be taken is a `Rejected` saying where and
why; the good items of the same payload are still taken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from watchkeeper.finding import Finding, problems
from watchkeeper.intake.errors import messages
from watchkeeper.intake.service import Kind


@dataclass(frozen=True)
class Rejected:
    """An item of a payload that was not taken.

    `index` is where the item sits in the payload's list (None: the payload as
    a whole); `reason` says what is wrong in words the sender can act on,
    naming the field, e.g. "'alerts.0.startsAt': Input should have timezone info".
    """

    index: int | None
    reason: str


@dataclass(frozen=True)
class Parsed:
    """What a payload holds: findings to record, keys the sender acknowledged, and what was refused."""

    findings: list[Finding] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # dedup keys whose incidents the sender acknowledges
    reference: str | None = None  # how the sender names what it sent, echoed in the answer (PagerDuty's dedup_key)

    @property
    def refused(self) -> bool:
        """Nothing in the payload can be taken: every item, or the payload as a whole, was rejected."""
        return bool(self.rejected) and not self.findings and not self.acknowledged


@dataclass(frozen=True)
class Answer:
    """The HTTP answer a sender expects: its status code and JSON body."""

    status_code: int
    body: dict[str, Any]


@runtime_checkable
class Parser(Protocol):
    """One kind of sender: how its payloads read and how it is answered."""

    @property
    def kind(self) -> Kind: ...

    def parse(self, body: object, *, integration_id: int, now: datetime) -> Parsed:
        """The findings and rejected items of a decoded JSON body sent through the integration."""
        ...

    def answer(self, parsed: Parsed) -> Answer:
        """The answer to a parsed payload, in the sender's own shape."""
        ...

    def unreadable(self, reason: str) -> Answer:
        """The answer to a body that is not JSON at all."""
        ...

    def unknown(self, reason: str) -> Answer:
        """The answer to a key no active integration of this kind has."""
        ...


@runtime_checkable
class KeyInBody(Parser, Protocol):
    """A kind whose payload carries its integration key (PagerDuty's `routing_key`, where its URL carries none).

    The payload is checked before its key is looked up, as PagerDuty does, so a
    sender hears what is wrong with an event whatever key it carries.
    """

    def key(self, body: object) -> str | Parsed:
        """The key the payload carries; or, when the payload cannot be taken whatever its key, its refusal."""
        ...


class InPath:
    """The answers of a kind whose key is in its URL: an unknown key is a 404, a body that is not JSON a 400."""

    def unreadable(self, reason: str) -> Answer:
        return Answer(400, {"detail": reason})

    def unknown(self, reason: str) -> Answer:
        return Answer(404, {"detail": reason})


def rejections(lines: list[str], index: int | None = None) -> list[Rejected]:
    """One rejected item per line, all at `index`."""
    return [Rejected(index, line) for line in lines]


def take_each(items: Iterable[object], read: Callable[[object], Finding], *, now: datetime, within: str = "") -> Parsed:
    """Each item `read` into a finding (a ValidationError if it cannot be) and
    checked as watchkeeper stores it. One that fails either is rejected at its
    index, its fields named under `within` ("alerts": "alerts.3.startsAt"; a
    check of the finding names the field as watchkeeper stores it); the
    others are taken."""
    good: list[Finding] = []
    bad: list[Rejected] = []
    for index, item in enumerate(items):
        where = f"{within}.{index}" if within else ""
        try:
            found = read(item)
        except ValidationError as exc:
            bad += rejections(messages(exc, where), index)
            continue
        wrong = problems(found, now=now)
        if wrong:
            bad += rejections([f"{where}: {line}" if where else line for line in wrong], index)
        else:
            good.append(found)
    return Parsed(findings=good, rejected=bad)
