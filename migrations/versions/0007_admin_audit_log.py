"""admin audit log

Revision ID: 7b2d4e6f8a10
Revises: 6a1f0c3e9b27
Create Date: 2026-11-22 13:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7b2d4e6f8a10'
down_revision = '6a1f0c3e9b27'
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_shop():
    op.create_table(
        'admin_actions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor', sa.String(length=254), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target', sa.String(length=254), nullable=False),
        sa.Column('detail', sa.String(length=500), nullable=False),
        sa.Column('ip_net', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_actions')),
    )
    op.create_index('ix_admin_actions_at', 'admin_actions', ['at'], unique=False)


def downgrade_shop():
    op.drop_index('ix_admin_actions_at', table_name='admin_actions')
    op.drop_table('admin_actions')


def upgrade_journeys():
    pass


def downgrade_journeys():
    pass
