"""chat indexes: a chat's outbox rows in order (the web chat's newest few, and what a refusal or a
platform's window stops), a chat's identities (a platform's refusal names the chat), and an
account's events in order (replacing the index on account_id alone, which PostgreSQL had to sort)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 20:30:00
"""

from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_event_account_id')
        batch_op.create_index('ix_inbound_event_account', ['account_id', 'id'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_chat', ['channel', 'chat_id', 'id'], unique=False)
    with op.batch_alter_table('channel_identity', schema=None) as batch_op:
        batch_op.create_index('ix_channel_identity_chat', ['channel', 'chat_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('channel_identity', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_identity_chat')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_chat')
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_event_account')
        batch_op.create_index('ix_inbound_event_account_id', ['account_id'], unique=False)
