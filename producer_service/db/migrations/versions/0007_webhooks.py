"""Completion webhooks: a job's callback URL, and how its delivery fares.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("callback_url", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("webhook_status", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("webhook_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("webhook_last_error", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("webhook_queued", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_jobs_webhook_status", ["webhook_status", "webhook_queued"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_webhook_status")
        for column in (
            "webhook_queued",
            "webhook_last_error",
            "webhook_attempts",
            "webhook_status",
            "callback_url",
        ):
            batch.drop_column(column)
