"""review: registration.result and the "returned" status; review_action (the audit trail of
reviews), item_rating (the year-end rating of each task), compiled_report (a reviewing unit's
report to the level above), job (work done after a commit, off the database thread), and
org_unit.closed_on / merged_into (a unit folded into another keeps its history)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 15:11:48.444886
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

from chidoan.i18n import fold


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compiled_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('programme', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('sent_by', sa.Integer(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('on_time', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], ),
    sa.ForeignKeyConstraint(['sent_by'], ['account.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('compiled_report', schema=None) as batch_op:
        batch_op.create_index('ix_compiled_report_unit', ['unit_id', 'programme', 'year'], unique=False)

    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index('ix_job_open', ['done_at'], unique=False)

    op.create_table('item_rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('task', sa.Integer(), nullable=False),
    sa.Column('item', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('rated_by', sa.Integer(), nullable=False),
    sa.Column('rated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['rated_by'], ['account.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('registration_id', 'task')
    )
    op.create_table('review_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], ),
    sa.ForeignKeyConstraint(['report_id'], ['report.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('review_action', schema=None) as batch_op:
        batch_op.create_index('ix_review_action_registration', ['registration_id'], unique=False)
        batch_op.create_index('ix_review_action_unit', ['unit_id', 'at'], unique=False)

    with op.batch_alter_table('org_unit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('folded_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('closed_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('merged_into', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_org_unit_merged_into', 'org_unit', ['merged_into'], ['id'])
    units = sa.table('org_unit', sa.column('id', sa.Integer), sa.column('name', sa.String), sa.column('folded_name', sa.String))
    conn = op.get_bind()
    folded = [{'unit_id': row.id, 'folded': fold(row.name)} for row in conn.execute(sa.select(units.c.id, units.c.name))]
    if folded:
        conn.execute(units.update().where(units.c.id == sa.bindparam('unit_id')).values(folded_name=sa.bindparam('folded')), folded)

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_column('result')

    with op.batch_alter_table('org_unit', schema=None) as batch_op:
        batch_op.drop_constraint('fk_org_unit_merged_into', type_='foreignkey')
        batch_op.drop_column('merged_into')
        batch_op.drop_column('closed_on')
        batch_op.drop_column('folded_name')

    with op.batch_alter_table('review_action', schema=None) as batch_op:
        batch_op.drop_index('ix_review_action_unit')
        batch_op.drop_index('ix_review_action_registration')

    op.drop_table('review_action')
    op.drop_table('item_rating')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index('ix_job_open')

    op.drop_table('job')
    with op.batch_alter_table('compiled_report', schema=None) as batch_op:
        batch_op.drop_index('ix_compiled_report_unit')

    op.drop_table('compiled_report')
