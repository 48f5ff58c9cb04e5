"""CDS Hooks (issue 26): ``cds_cards``, the cards shown per caller and order (which hook showed one, what feedback
answers), and ``cds_token_ids``, CDS client JWT ids remembered until they expire (replay refusal without Redis).

Revision ID: 0005_cds_hooks
Revises: 0004_leases
Create Date: 2026-12-07

Written by hand in the style of 0001 (plain ``sa.String``, named constraints). No patient data: an order id is stored only
as its sha256, a caller as its id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005_cds_hooks"
down_revision: str | Sequence[str] | None = "0004_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cds_cards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("caller_id", sa.String(length=128), nullable=False),
        sa.Column("recommendation_id", sa.Uuid(), nullable=False),
        sa.Column("hook", sa.String(length=32), nullable=False),
        sa.Column("order_key", sa.String(length=64), nullable=True),
        sa.Column("suggestion_id", sa.Uuid(), nullable=True),
        sa.Column("drafted_dose", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recommendation_id"], ["recommendations.id"],
                                name="fk_cds_cards_recommendation_id_recommendations"),
        sa.PrimaryKeyConstraint("id", name="pk_cds_cards"),
        sa.UniqueConstraint("caller_id", "order_key", "recommendation_id", name="uq_cds_cards_caller_order_recommendation"),
    )
    op.create_index("ix_cds_cards_caller_id", "cds_cards", ["caller_id"])
    op.create_index("ix_cds_cards_recommendation_id", "cds_cards", ["recommendation_id"])
    op.create_table(
        "cds_token_ids",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cds_token_ids"),
    )
    op.create_index("ix_cds_token_ids_expires_at", "cds_token_ids", ["expires_at"])


def downgrade() -> None:
    op.drop_table("cds_token_ids")
    op.drop_index("ix_cds_cards_recommendation_id", table_name="cds_cards")
    op.drop_index("ix_cds_cards_caller_id", table_name="cds_cards")
    op.drop_table("cds_cards")
