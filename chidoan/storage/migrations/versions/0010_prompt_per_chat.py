"""prompt per chat: the last question is kept for each chat it was shown in, not once per account

A person with two linked apps was answering in one app the question last sent to the other (a
follow-up sent to the notice app took over a number typed in the app where a report was being
filled). The key becomes (account, channel, chat). A question kept before this revision was
shown in the chat the account wrote from last (replies go there; rows of accounts without an
identity are dropped), so it is kept for that chat. Downgrading keeps each account's newest.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 12:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _old_table() -> None:
    op.create_table('prompt',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('account_id')
    )


def _new_table() -> None:
    op.create_table('prompt',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('account_id', 'channel', 'chat_id')
    )


def _rows() -> list:
    return list(op.get_bind().execute(sa.select(_table('account_id', 'seq', 'body', 'updated_at'))))


def _table(*names: str) -> sa.TableClause:
    types = {'account_id': sa.Integer(), 'channel': sa.String(), 'chat_id': sa.String(), 'seq': sa.Integer(),
             'body': sa.JSON(), 'updated_at': sqlmodel.sql.sqltypes.UTCDateTime()}
    return sa.table('prompt', *(sa.column(name, types[name]) for name in names))


def upgrade() -> None:
    kept = _rows()
    chats = {}
    identities = sa.table('channel_identity', sa.column('id', sa.Integer()), sa.column('account_id', sa.Integer()),
                          sa.column('channel', sa.String()), sa.column('chat_id', sa.String()),
                          sa.column('last_seen_at', sqlmodel.sql.sqltypes.UTCDateTime()))
    for identity in op.get_bind().execute(sa.select(identities)):
        best = chats.get(identity.account_id)
        seen = identity.last_seen_at
        rank = (seen is not None, seen.isoformat() if seen else "", identity.id)
        if best is None or rank > best[0]:
            chats[identity.account_id] = (rank, identity.channel, identity.chat_id)
    op.drop_table('prompt')
    _new_table()
    rows = [
        {'account_id': r.account_id, 'channel': chats[r.account_id][1], 'chat_id': chats[r.account_id][2],
         'seq': r.seq, 'body': r.body, 'updated_at': r.updated_at}
        for r in kept if r.account_id in chats
    ]
    if rows:
        op.bulk_insert(_table('account_id', 'channel', 'chat_id', 'seq', 'body', 'updated_at'), rows)


def downgrade() -> None:
    newest = {}
    for r in _rows():
        if r.account_id not in newest or r.updated_at > newest[r.account_id].updated_at:
            newest[r.account_id] = r
    op.drop_table('prompt')
    _old_table()
    rows = [{'account_id': r.account_id, 'seq': r.seq, 'body': r.body, 'updated_at': r.updated_at}
            for r in newest.values()]
    if rows:
        op.bulk_insert(_table('account_id', 'seq', 'body', 'updated_at'), rows)
