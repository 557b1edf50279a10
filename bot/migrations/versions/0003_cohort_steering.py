"""cohort steering: matching details, pair proposals with their rationale, pending CSV imports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:41:35
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pending_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('rows', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_pending_imports_cohort_id_cohorts')),
    sa.ForeignKeyConstraint(['requested_by'], ['people.id'], name=op.f('fk_pending_imports_requested_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_imports'))
    )
    with op.batch_alter_table('pending_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_imports_cohort_id'), ['cohort_id'], unique=False)

    # Existing rows get empty values, so a database from an earlier version upgrades in place.
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settings', sa.JSON(), nullable=False, server_default='{}'))

    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rationale', sa.Text(), nullable=False, server_default=''))

    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('goals', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('line_manager', sa.String(length=320), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('requests', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_column('requests')
        batch_op.drop_column('line_manager')
        batch_op.drop_column('goals')
        batch_op.drop_column('paused_until')

    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.drop_column('rationale')

    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.drop_column('settings')

    with op.batch_alter_table('pending_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_imports_cohort_id'))

    op.drop_table('pending_imports')
