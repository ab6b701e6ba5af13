"""The inbox keyed on (source, id), CloudEvents' uniqueness rule, instead of id alone.

Two producers may use the same ids; CloudEvents makes `source` + `id` unique. The inbox gains a
`source` column and the primary key (source, event_id); each notification records its event's
source too (`event_source`), and its unique key and foreign key become the pair.

Rows recorded before this revision do not know their source. They get LEGACY_SOURCE, the source
of the events this template's producers send (`events.py: EVENT_SOURCE`), so that a redelivery
of such an event after the upgrade is still a duplicate. If your events came from another
source, set LEGACY_SOURCE to it before you run `migrate`.

Rebuilding the primary key locks the inbox while it runs (seconds per million rows): run it
with the workers stopped, or in a quiet moment.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_SOURCE = "/orders"


def upgrade() -> None:
    # With a default, PostgreSQL fills the existing rows without rewriting the table.
    legacy = sa.text(f"'{LEGACY_SOURCE}'")
    op.add_column(
        "inbox", sa.Column("source", sa.String(1000), nullable=False, server_default=legacy)
    )
    op.add_column(
        "notifications",
        sa.Column("event_source", sa.String(1000), nullable=False, server_default=legacy),
    )
    op.alter_column("inbox", "source", server_default=None)
    op.alter_column("notifications", "event_source", server_default=None)
    # The names PostgreSQL gave 0001's unnamed constraints.
    op.drop_constraint("notifications_event_id_fkey", "notifications", type_="foreignkey")
    op.drop_constraint("notifications_event_id_key", "notifications", type_="unique")
    op.drop_constraint("inbox_pkey", "inbox", type_="primary")
    op.create_primary_key("inbox_pkey", "inbox", ["source", "event_id"])
    op.create_unique_constraint(
        "notifications_event_key", "notifications", ["event_source", "event_id"]
    )
    op.create_foreign_key(
        "notifications_event_fkey",
        "notifications",
        "inbox",
        ["event_source", "event_id"],
        ["source", "event_id"],
    )


def downgrade() -> None:
    """Back to ids alone: fails (unique violation) once an id was recorded for two sources."""
    op.drop_constraint("notifications_event_fkey", "notifications", type_="foreignkey")
    op.drop_constraint("notifications_event_key", "notifications", type_="unique")
    op.drop_constraint("inbox_pkey", "inbox", type_="primary")
    op.create_primary_key("inbox_pkey", "inbox", ["event_id"])
    op.create_unique_constraint("notifications_event_id_key", "notifications", ["event_id"])
    op.create_foreign_key(
        "notifications_event_id_fkey", "notifications", "inbox", ["event_id"], ["event_id"]
    )
    op.drop_column("notifications", "event_source")
    op.drop_column("inbox", "source")
