"""returned items back in stock

When the owner put a refunded return's items back in stock, and who
(checkout.returns.restock): once per return.

Revision ID: 4b8e1d7c2a95
Revises: 6e2b8d4f0a17
Create Date: 2026-12-07 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4b8e1d7c2a95'
down_revision = '6e2b8d4f0a17'
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_shop():
    with op.batch_alter_table('order_returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('restocked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('restocked_by', sa.String(length=254), nullable=True))


def downgrade_shop():
    with op.batch_alter_table('order_returns', schema=None) as batch_op:
        batch_op.drop_column('restocked_by')
        batch_op.drop_column('restocked_at')


def upgrade_journeys():
    pass


def downgrade_journeys():
    pass
