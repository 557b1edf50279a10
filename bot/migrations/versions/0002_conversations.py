"""conversations: where a platform lets the bot reach a person or a pair's own group chat

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:37:32.787512
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('workspace', sa.String(length=200), nullable=False),
    sa.Column('members_key', sa.String(length=2000), nullable=False),
    sa.Column('is_group', sa.Boolean(), nullable=False),
    sa.Column('reference', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('platform', 'members_key', name=op.f('uq_conversations_platform'))
    )


def downgrade() -> None:
    op.drop_table('conversations')
