"""Credentials out of the logs: intake keys travel in the URL path, enquiry tokens in the query string.

uvicorn's access log prints every request's path and query; whoever reads
the log (or the log shipper's index) would hold a working integration key
or a customer's answer link. The filter rewrites them before any handler
formats the record.
"""

from __future__ import annotations

import logging
import re

_SECRETS = (
    (re.compile(r"(/api/v1/intake/[A-Za-z0-9_-]+/)[^/?#\s\"]+"), r"\1***"),
    (re.compile(r"(/enquiries/)(?!answer\b)[^/?#\s\"]+"), r"\1***"),
    (re.compile(r"([?&](?:token|key|routing_key)=)[^&#\s\"]+"), r"\1***"),
)
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    """Filter the loggers that print request paths (once per process: uvicorn's log set-up keeps filters)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
