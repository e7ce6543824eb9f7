"""The intake parsers, one per kind of sender. A new kind is a module with its parser and one entry here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from watchkeeper.intake.alertmanager import Alertmanager
from watchkeeper.intake.generic import Generic
from watchkeeper.intake.pagerduty import PagerDuty
from watchkeeper.intake.parser import Parser
from watchkeeper.intake.service import Kind


def _parsers() -> Mapping[Kind, Parser]:
    parsers: list[Parser] = [Alertmanager(), PagerDuty(), Generic()]
    return MappingProxyType({parser.kind: parser for parser in parsers})


PARSERS = _parsers()


def parser(kind: Kind) -> Parser:
    """The parser of `kind`; LookupError when no parser takes that kind."""
    try:
        return PARSERS[kind]
    except KeyError:
        raise LookupError(f"no intake parser for kind {kind!r}; the kinds are {', '.join(PARSERS)}") from None
