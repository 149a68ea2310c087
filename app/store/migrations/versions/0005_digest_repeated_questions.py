"""Talk digests carry the questions asked more than once, so the Q&A list shows each once

Digests written before have none: the clustering stage fills the column the next time it writes the talk.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("talkdigest", schema=None) as batch_op:
        batch_op.add_column(sa.Column("questions", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("talkdigest", schema=None) as batch_op:
        batch_op.drop_column("questions")
