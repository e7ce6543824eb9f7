"""statuses checked by the database, links as foreign keys

Every status, kind, role and priority column takes only its enumeration's
values, as the code always wrote them: a CHECK constraint per column says
so, named ck_<table>_<column>. A database holding another value is not
migrated; the error names the table, the column and the values to fix.

A case's incidents were a JSON list of ids on the case: they become rows of
`case_incidents`, each end a foreign key. An enquiry's incident and case, and
a timeline entry's alert, were ids no key checked: they get foreign keys and
indexes. An id that names no row any more (none should) is cleared first.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEVERITIES = ("critical", "error", "warning", "info")
URGENCIES = ("high", "low")
ROLES = ("admin", "engineer", "customer", "ingest")
PRIORITIES = ("p1", "p2", "p3", "p4")

# The values as of this revision; the code's enumerations may grow, each
# growth with a migration of its own.
CHECKED: dict[str, dict[str, tuple[str, ...]]] = {
    "alerts": {
        "severity": SEVERITIES,
        "urgency": URGENCIES,
        "status": ("firing", "resolved"),
        "muted": ("silenced", "maintenance", "inhibited"),
    },
    "incidents": {
        "status": ("triggered", "acknowledged", "resolved", "closed"),
        "urgency": URGENCIES,
        "severity": SEVERITIES,
    },
    "incident_timeline": {
        "kind": (
            "opened",
            "alert_joined",
            "alert_resolved",
            "alert_flapping",
            "alert_released",
            "alert_carried_over",
            "all_alerts_resolved",
            "dependent_muted",
            "urgency_raised",
            "urgency_lowered",
            "case_opened",
            "enquiry_sent",
            "customer_answer",
            "acknowledged",
            "resolved",
            "closed",
            "note",
            "notification",
            "runbook_step",
        ),
    },
    "api_tokens": {"role": ROLES},
    "users": {"role": ROLES},
    "services": {"stage": ("new", "test", "production", "retired")},
    "ingested_files": {"status": ("ingested", "quarantined")},
    "file_findings": {
        "kind": ("duplicate_file", "sequence_gap", "sequence_reused", "unreadable_file", "appended_file"),
    },
    "integrations": {"kind": ("alertmanager", "pagerduty", "generic")},
    "notifications": {
        "subject": ("incident", "case", "enquiry"),
        "status": ("pending", "sending", "sent", "failed"),
    },
    "contacts": {"role": ("technical", "billing", "escalation")},
    "cases": {
        "priority": PRIORITIES,
        "status": ("new", "open", "pending_customer", "resolved", "closed"),
    },
    "case_entries": {
        "kind": (
            "opened",
            "public",
            "internal",
            "status",
            "priority",
            "assigned",
            "sla_warning",
            "sla_breach",
            "enquiry",
            "customer",
            "notification",
        ),
    },
    "sla_breaches": {"target": ("first_response", "update", "resolution"), "priority": PRIORITIES},
    "enquiries": {"if_expected": ("snooze", "test"), "answer": ("expected", "not_expected")},
}

# (table, column, the table it names): ids that had no key.
KEYED = (
    ("enquiries", "incident_id", "incidents"),
    ("enquiries", "case_id", "cases"),
    ("incident_timeline", "alert_id", "alerts"),
)


def _condition(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _refuse_unknown_values() -> None:
    bind = op.get_bind()
    wrong = []
    for table, columns in CHECKED.items():
        for column, values in columns.items():
            outside = f"{column} IS NOT NULL AND NOT ({_condition(column, values)})"
            found = bind.execute(sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE {outside}")).scalars()
            wrong += [f"{table}.{column} holds {value!r}, not one of {', '.join(values)}" for value in found]
    if wrong:
        raise RuntimeError("cannot check the statuses; change these rows first: " + "; ".join(wrong))


def _link_cases_to_incidents() -> None:
    op.create_table(
        "case_incidents",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_incidents_case_id_cases"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_case_incidents_incident_id_incidents"),
        sa.PrimaryKeyConstraint("case_id", "incident_id"),
    )
    op.create_index("ix_case_incidents_incident_id", "case_incidents", ["incident_id"], unique=False)
    bind = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.Integer()), sa.column("incident_ids", sa.JSON()))
    known = set(bind.execute(sa.text("SELECT id FROM incidents")).scalars())
    links = [
        {"case_id": case_id, "incident_id": int(incident_id)}
        for case_id, incident_ids in bind.execute(sa.select(cases.c.id, cases.c.incident_ids))
        for incident_id in dict.fromkeys(incident_ids or [])
        if int(incident_id) in known
    ]
    if links:
        op.bulk_insert(sa.table("case_incidents", sa.column("case_id"), sa.column("incident_id")), links)
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("incident_ids")


def _unlink_cases_from_incidents() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("incident_ids", sa.JSON(), nullable=False, server_default="[]"))
    bind = op.get_bind()
    linked: dict[int, list[int]] = {}
    for case_id, incident_id in bind.execute(
        sa.text("SELECT case_id, incident_id FROM case_incidents ORDER BY case_id, incident_id")
    ):
        linked.setdefault(case_id, []).append(incident_id)
    cases = sa.table("cases", sa.column("id", sa.Integer()), sa.column("incident_ids", sa.JSON()))
    for case_id, ids in linked.items():
        bind.execute(sa.update(cases).where(cases.c.id == case_id).values(incident_ids=ids))
    with op.batch_alter_table("cases") as batch_op:
        batch_op.alter_column("incident_ids", existing_type=sa.JSON(), server_default=None)
    op.drop_index("ix_case_incidents_incident_id", "case_incidents")
    op.drop_table("case_incidents")


def upgrade() -> None:
    _refuse_unknown_values()
    for table, column, target in KEYED:
        op.execute(
            f"UPDATE {table} SET {column} = NULL WHERE {column} IS NOT NULL "
            f"AND {column} NOT IN (SELECT id FROM {target})"
        )
    _link_cases_to_incidents()
    for table, columns in CHECKED.items():
        with op.batch_alter_table(table) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(f"ck_{table}_{column}", _condition(column, values))
            for _, key, target in (k for k in KEYED if k[0] == table):
                batch_op.create_foreign_key(f"fk_{table}_{key}_{target}", target, [key], ["id"])
                batch_op.create_index(f"ix_{table}_{key}", [key], unique=False)


def downgrade() -> None:
    for table, columns in CHECKED.items():
        with op.batch_alter_table(table) as batch_op:
            for _, key, target in (k for k in KEYED if k[0] == table):
                batch_op.drop_index(f"ix_{table}_{key}")
                batch_op.drop_constraint(f"fk_{table}_{key}_{target}", type_="foreignkey")
            for column in columns:
                batch_op.drop_constraint(f"ck_{table}_{column}", type_="check")
    _unlink_cases_from_incidents()
