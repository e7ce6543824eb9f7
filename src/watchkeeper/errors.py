"""The kinds of error a user can cause, and how an error is said to a person.

Services raise these (or the standard LookupError and ValueError, which the
faces read the same way: a missing thing, refused input), so that every face
answers a kind alike: the API maps each to one status code (web.errors), the
CLI prints the message and leaves with an error.
"""

from __future__ import annotations


class NotFound(LookupError):
    """No such thing, or one the asker may not see (which must read the same)."""


class Invalid(ValueError):
    """Input the rules refuse; the message says what and how to put it right."""


class Conflict(ValueError):
    """The thing exists, but its state does not allow this now (a name taken, a closed incident)."""


class Forbidden(ValueError):
    """The asker may not do this; the message says who may.

    A ValueError, as every refusal a command prints for its user is one."""


def said(exc: BaseException) -> str:
    """The message of `exc`. A KeyError's str() quotes its message ("'no incident 7'");
    only that quoting is taken off, not quotes that belong to the message."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)
