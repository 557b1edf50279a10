"""timeline changes: what the running timeline must follow, for SQLite's one server to poll; the
APScheduler job store's table goes (the timeline's jobs live in memory, rebuilt from the database)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('timeline_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=True),
    sa.Column('job', sa.String(length=50), nullable=True),
    sa.Column('ref_id', sa.Integer(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline_changes')),
    sqlite_autoincrement=True,  # followed rows are deleted: their ids must never come back
    )
    # Pickled jobs of the old shared job store: every replica now rebuilds its jobs from our tables.
    op.execute("DROP TABLE IF EXISTS apscheduler_jobs")


def downgrade() -> None:
    op.drop_table('timeline_changes')
