"""two-factor authentication

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

TOTP settings (one row per user, secret encrypted) and hashed single-use backup codes, the shapes of
new-api's two_fas / two_fa_backup_codes with unix-second times and the last accepted time step.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('two_fa',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret_encrypted', sa.String(length=255), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('failed_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('last_used_step', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('last_used_time', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_two_fa_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_two_fa')),
    sa.UniqueConstraint('user_id', name=op.f('uq_two_fa_user_id'))
    )
    op.create_table('two_fa_backup_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('is_used', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('used_time', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_two_fa_backup_codes_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_two_fa_backup_codes'))
    )
    with op.batch_alter_table('two_fa_backup_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_two_fa_backup_codes_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('two_fa_backup_codes')
    op.drop_table('two_fa')
