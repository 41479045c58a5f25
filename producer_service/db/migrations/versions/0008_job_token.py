"""A job records the browser token it was submitted with, and idempotency keys are scoped per
token as well as per key.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("token_id", sa.String(32), nullable=False, server_default=""))
        batch.drop_constraint("jobs_owner_idempotency_key_key", type_="unique")
        batch.create_unique_constraint(
            "jobs_owner_token_id_idempotency_key_key", ["owner", "token_id", "idempotency_key"]
        )


def downgrade() -> None:
    # Fails while two tokens of one key hold the same idempotency key: delete those jobs first.
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("jobs_owner_token_id_idempotency_key_key", type_="unique")
        batch.create_unique_constraint(
            "jobs_owner_idempotency_key_key", ["owner", "idempotency_key"]
        )
        batch.drop_column("token_id")
