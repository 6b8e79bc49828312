"""order returns

A buyer's request to send back lines of a delivered order, and the owner's refund or
refusal (checkout.models.OrderReturn, OrderReturnLine).

Revision ID: 6e2b8d4f0a17
Revises: 3a7c9e1f5b20
Create Date: 2026-12-07 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6e2b8d4f0a17'
down_revision = '3a7c9e1f5b20'
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_shop():
    op.create_table(
        'order_returns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('decided_by', sa.String(length=254), nullable=True),
        sa.Column('refund_id', sa.String(length=120), nullable=True),
        sa.Column('refund_key', sa.String(length=64), nullable=True),
        sa.Column('refunding_since', sa.DateTime(), nullable=True),
        sa.CheckConstraint('amount >= 0', name=op.f('ck_order_returns_amount_not_negative')),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'],
                                name=op.f('fk_order_returns_order_id_orders'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_order_returns')),
        sa.UniqueConstraint('refund_key', name=op.f('uq_order_returns_refund_key')),
    )
    with op.batch_alter_table('order_returns', schema=None) as batch_op:
        for column in ('created_at', 'order_id', 'status'):
            batch_op.create_index(batch_op.f(f'ix_order_returns_{column}'), [column],
                                  unique=False)
    op.create_table(
        'order_return_lines',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('return_id', sa.Integer(), nullable=False),
        sa.Column('order_line_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.CheckConstraint('quantity > 0',
                           name=op.f('ck_order_return_lines_quantity_positive')),
        sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'],
                                name=op.f('fk_order_return_lines_order_line_id_order_lines'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['return_id'], ['order_returns.id'],
                                name=op.f('fk_order_return_lines_return_id_order_returns'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_order_return_lines')),
    )
    with op.batch_alter_table('order_return_lines', schema=None) as batch_op:
        for column in ('order_line_id', 'return_id'):
            batch_op.create_index(batch_op.f(f'ix_order_return_lines_{column}'), [column],
                                  unique=False)


def downgrade_shop():
    op.drop_table('order_return_lines')
    op.drop_table('order_returns')


def upgrade_journeys():
    pass


def downgrade_journeys():
    pass
