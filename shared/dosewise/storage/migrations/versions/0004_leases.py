"""Leases (issue 27): ``leases``, one row per named lease while someone holds it — the trainer replicas' retraining lease.

Revision ID: 0004_leases
Revises: 0003_learning_loop
Create Date: 2026-11-26

Written by hand in the style of 0001 (plain ``sa.String``, named constraints). The row is the whole lease: no foreign keys,
no patient data; a released lease is deleted, a crashed holder's row stays until another holder takes it over.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004_leases"
down_revision: str | Sequence[str] | None = "0003_learning_loop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
