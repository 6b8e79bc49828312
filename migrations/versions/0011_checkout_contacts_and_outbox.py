"""guest checkout contacts and the outbox

The email and name a guest types at checkout's address step, kept under their journey
until an order carries them: the panel names a guest who left at the delivery step
(checkout.models.CheckoutContact), and a reminder can bring their cart back. The outbox:
the messages the store has for shoppers (checkout.models.OutboxMessage).

Revision ID: 8d2f4b6a1c93
Revises: 5c1e7a9d3b64
Create Date: 2026-12-07 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d2f4b6a1c93'
down_revision = '5c1e7a9d3b64'
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_shop():
    op.create_table(
        'checkout_contacts',
        sa.Column('journey_id', sa.String(length=32), nullable=False),
        sa.Column('visitor_id', sa.String(length=32), nullable=True),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('cart_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['cart_id'], ['carts.id'],
                                name=op.f('fk_checkout_contacts_cart_id_carts'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('journey_id', name=op.f('pk_checkout_contacts')),
    )
    with op.batch_alter_table('checkout_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_contacts_updated_at'), ['updated_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_checkout_contacts_visitor_id'), ['visitor_id'],
                              unique=False)
    op.create_table(
        'outbox_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('to_email', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('journey_id', sa.String(length=32), nullable=True),
        sa.Column('visitor_id', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'],
                                name=op.f('fk_outbox_messages_order_id_orders'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
        sa.UniqueConstraint('key', name=op.f('uq_outbox_messages_key')),
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        for column in ('created_at', 'journey_id', 'kind', 'order_id', 'visitor_id'):
            batch_op.create_index(batch_op.f(f'ix_outbox_messages_{column}'), [column],
                                  unique=False)


def downgrade_shop():
    op.drop_table('outbox_messages')
    with op.batch_alter_table('checkout_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_contacts_visitor_id'))
        batch_op.drop_index(batch_op.f('ix_checkout_contacts_updated_at'))
    op.drop_table('checkout_contacts')


def upgrade_journeys():
    pass


def downgrade_journeys():
    pass
