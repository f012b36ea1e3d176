"""The platform: per-report indicators, campaigns, alerts, promoted indicators and rules.

Revision ID: p0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "p0001"
down_revision = None
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "platform_report_indicators",
        sa.Column("report_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.String(length=36), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("of_interest", sa.Boolean(), nullable=False),
        sa.Column("doc", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("report_id"),
    )
    op.create_index("ix_platform_report_indicators_shop_id", "platform_report_indicators", ["shop_id"])
    op.create_index("ix_platform_report_indicators_seen_at", "platform_report_indicators", ["seen_at"])
    op.create_index(
        "ix_platform_report_indicators_of_interest", "platform_report_indicators", ["of_interest"]
    )
    op.create_table(
        "platform_campaigns",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("shop_count", sa.Integer(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("doc", JSONDoc, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("alerted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_platform_campaigns_last_seen", "platform_campaigns", ["last_seen"])
    op.create_table(
        "platform_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("shop_id", sa.String(length=36), nullable=True),
        sa.Column("campaign_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("shop_count", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=32), nullable=False),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=True),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_platform_alerts_campaign_id", "platform_alerts", ["campaign_id"])
    op.create_index("ix_platform_alerts_shop_id", "platform_alerts", ["shop_id"])
    op.create_table(
        "platform_promoted",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("platform_promoted")
    op.drop_table("platform_alerts")
    op.drop_table("platform_campaigns")
    op.drop_table("platform_report_indicators")
