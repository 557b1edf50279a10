"""erased counts: what an erased person added to a cohort's counts, kept without them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 16:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erased_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('measure', sa.String(length=200), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_erased_counts_cohort_id_cohorts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erased_counts'))
    )
    with op.batch_alter_table('erased_counts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erased_counts_cohort_id'), ['cohort_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('erased_counts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erased_counts_cohort_id'))
    op.drop_table('erased_counts')
