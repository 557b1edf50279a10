"""conversation focus and one arrangement per pair: prompts.asked_at, typed notes, meeting
location and length, a unique index on a pair's live arrangements, and quiet hours

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('proposed', 'agreed', 'unscheduled')")


def upgrade() -> None:
    with op.batch_alter_table('prompts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('asked_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE prompts SET asked_at = created_at")
    op.create_table('typed_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('taken_for', sa.String(length=200), nullable=False),
    sa.Column('prompt_id', sa.Integer(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_typed_notes_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_typed_notes'))
    )
    with op.batch_alter_table('typed_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_typed_notes_person_id'), ['person_id'], unique=False)
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('location', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('minutes', sa.Integer(), nullable=True))
    # Older data may hold two live proposals for one pair (the bug this index prevents): keep the newest.
    op.execute("""
        UPDATE meetings SET status = 'lapsed'
        WHERE status IN ('proposed', 'agreed', 'unscheduled') AND pair_id IS NOT NULL AND id NOT IN (
            SELECT MAX(id) FROM meetings WHERE status IN ('proposed', 'agreed', 'unscheduled')
            AND pair_id IS NOT NULL GROUP BY pair_id, kind, direction)
    """)
    for table in ('organisations', 'people'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('quiet_hours', sa.String(length=20), nullable=False, server_default=''))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('uq_meetings_live_arrangement', 'meetings', ['pair_id', 'kind', 'direction'], unique=True,
                    sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade() -> None:
    op.drop_index('uq_meetings_live_arrangement', table_name='meetings')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('due_at')
    for table in ('organisations', 'people'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('quiet_hours')
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_column('minutes')
        batch_op.drop_column('location')
    with op.batch_alter_table('typed_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_typed_notes_person_id'))
    op.drop_table('typed_notes')
    with op.batch_alter_table('prompts', schema=None) as batch_op:
        batch_op.drop_column('asked_at')
