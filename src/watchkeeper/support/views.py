"""Cases shaped for reading, the same for the API and the command line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.auth.principal import Principal
from watchkeeper.support import service as desk
from watchkeeper.support.models import Case


def case_out(case: Case, who: Principal, session: Session, now: datetime, *, log: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": case.id,
        "customer": desk.customer_by_id(case.customer_id, session=session).name,
        "title": case.title,
        "priority": case.priority,
        "status": case.status,
        "assignee": case.assignee,
        "created_at": case.created_at,
        "escalation_level": case.escalation_level,
        "incident_ids": case.incident_ids,
        "due_at": case.due_at,
        "clocks": [
            {
                "target": c.target,
                "state": c.state,
                "due_at": c.due_at,
                "warn_at": c.warn_at,
                "breached_at": c.breached_at,
                "elapsed_minutes": c.elapsed.total_seconds() / 60,
                "limit_minutes": c.limit.total_seconds() / 60,
            }
            for c in desk.clocks(case, session=session, now=now)
        ],
    }
    if log:
        entries = [e for e in desk.entries(case, session=session) if who.staff or e.kind not in desk.PRIVATE]
        out["log"] = [{"at": e.at, "kind": e.kind, "author": e.author, "text": e.text} for e in entries]
    return out
