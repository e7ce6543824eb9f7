"""How an error is said to a person."""

from __future__ import annotations


def said(exc: BaseException) -> str:
    """The message of `exc`. A KeyError's str() quotes its message ("'no incident 7'");
    only that quoting is taken off, not quotes that belong to the message."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)
