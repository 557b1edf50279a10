"""calendar invitations: each meeting's invitation version (meetings.calendar_sequence) and the copy
of it each participant holds (calendar_invitations), so changes raise SEQUENCE and cancellations
reach whoever had the meeting in their calendar

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-14 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_sequence', sa.Integer(), nullable=False, server_default='0'))
    op.create_table('calendar_invitations',
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_calendar_invitations_meeting_id_meetings')),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'],
                            name=op.f('fk_calendar_invitations_participant_id_participants')),
    sa.PrimaryKeyConstraint('meeting_id', 'participant_id', name=op.f('pk_calendar_invitations')),
    )


def downgrade() -> None:
    op.drop_table('calendar_invitations')
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_column('calendar_sequence')
