"""Who is asking: a role, and for customers the customer. No web framework here,
so the command line can speak as a principal too (see access.py for the API's side)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchkeeper.auth.models import Role as Role


def service_rule(pattern: str) -> Any:
    """An ingest token's service-name pattern, compiled in RE2 (linear time, as alert matchers)."""
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression RE2 reads (e.g. 'acme-.*')") from exc


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    customer_id: int | None = None
    customer: str | None = None  # the customer's name, for customer tokens
    service_pattern: str | None = None  # for ingest tokens: the services it may post usage for (full match)
    feed: str | None = None  # for ingest tokens: the feed whose files and findings it may read

    @property
    def staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.ENGINEER)

    def may_post(self, service: str) -> bool:
        """Whether usage rows for `service` may come from this principal."""
        if self.service_pattern is None:
            return self.staff or self.role is Role.INGEST
        return service_rule(self.service_pattern).fullmatch(service) is not None
