"""How intake payload errors are said: one line per problem, naming the field."""

from __future__ import annotations

from pydantic import ValidationError


class PayloadError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def messages(exc: ValidationError, within: str = "") -> list[str]:
    """One line per problem, naming its field (under `within`, e.g. "alerts.3")."""
    out = []
    for error in exc.errors():
        where = ".".join(([within] if within else []) + [str(part) for part in error["loc"]]) or "body"
        if not error["loc"] and error["type"] == "value_error":  # a check of the whole event says its own field
            out.append(error["msg"].removeprefix("Value error, "))
        else:
            out.append(f"'{where}' is missing" if error["type"] == "missing" else f"'{where}': {error['msg']}")
    return out
