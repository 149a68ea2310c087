"""Index posts by (source, reply_to_native): each ingest batch asks which stored replies await its posts

Without it that question scans the whole post table once per batch.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 23:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.create_index("ix_post_source_reply_to_native", ["source", "reply_to_native"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_index("ix_post_source_reply_to_native")
