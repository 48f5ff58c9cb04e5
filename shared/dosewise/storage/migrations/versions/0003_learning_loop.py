"""The learning loop (issue 6): ``transitions`` (one per outcome, unique key ``outcome_id``) and ``gate_reports``.

Revision ID: 0003_learning_loop
Revises: 0002_api_keys
Create Date: 2026-11-23

Written by hand in the style of 0001 (plain ``sa.String``, every constraint named). A transition goes with its outcome: the
foreign key cascades on delete, so erasing a patient's outcomes erases what the learner derived from them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003_learning_loop"
down_revision: str | Sequence[str] | None = "0002_api_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "transitions",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("outcome_id", sa.Uuid(), nullable=False),
        sa.Column("recommendation_id", sa.Uuid(), nullable=False),
        sa.Column("therapy", sa.String(length=64), nullable=False),
        sa.Column("patient_ref", sa.String(length=128), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        _ts("decision_time"),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("mask", sa.JSON(), nullable=False),
        sa.Column("action_index", sa.Integer(), nullable=False),
        sa.Column("recommended_action_index", sa.Integer(), nullable=False),
        sa.Column("behaviour_probability", sa.Float(), nullable=True),
        sa.Column("feedback", sa.String(length=16), nullable=False),
        sa.Column("reward", sa.Float(), nullable=False),
        sa.Column("reward_terms", sa.JSON(), nullable=False),
        sa.Column("next_features", sa.JSON(), nullable=False),
        sa.Column("next_mask", sa.JSON(), nullable=False),
        sa.Column("terminated", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["outcome_id"], ["outcomes.id"], name="fk_transitions_outcome_id_outcomes",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_transitions"),
        sa.UniqueConstraint("outcome_id", name="uq_transitions_outcome_id"),
    )
    op.create_index("ix_transitions_recommendation_id", "transitions", ["recommendation_id"])
    op.create_index("ix_transitions_therapy", "transitions", ["therapy"])
    op.create_index("ix_transitions_patient_ref", "transitions", ["patient_ref"])
    op.create_index("ix_transitions_decision_time", "transitions", ["decision_time"])

    op.create_table(
        "gate_reports",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("therapy", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("transitions_through_id", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["policy_id"], ["policies.id"], name="fk_gate_reports_policy_id_policies"),
        sa.PrimaryKeyConstraint("id", name="pk_gate_reports"),
    )
    op.create_index("ix_gate_reports_policy_id", "gate_reports", ["policy_id"])
    op.create_index("ix_gate_reports_therapy", "gate_reports", ["therapy"])
    op.create_index("ix_gate_reports_created_at", "gate_reports", ["created_at"])


def downgrade() -> None:
    op.drop_table("gate_reports")
    op.drop_table("transitions")
