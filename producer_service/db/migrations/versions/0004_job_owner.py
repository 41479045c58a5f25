"""Jobs belong to the API key that made them: idempotency keys are scoped per owner, and
an owner's active jobs are counted by an index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=False, server_default=""))
        batch.drop_constraint("jobs_idempotency_key_key", type_="unique")
        batch.create_unique_constraint(
            "jobs_owner_idempotency_key_key", ["owner", "idempotency_key"]
        )
        batch.create_index("ix_jobs_owner_status", ["owner", "status"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_owner_status")
        batch.drop_constraint("jobs_owner_idempotency_key_key", type_="unique")
        batch.create_unique_constraint("jobs_idempotency_key_key", ["idempotency_key"])
        batch.drop_column("owner")
