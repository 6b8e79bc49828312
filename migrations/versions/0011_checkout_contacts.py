"""guest checkout contacts

The email and name a guest types at checkout's address step, kept under their journey
until an order carries them: the panel names a guest who left at the delivery step
(checkout.models.CheckoutContact).

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
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('journey_id', name=op.f('pk_checkout_contacts')),
    )
    with op.batch_alter_table('checkout_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_contacts_updated_at'), ['updated_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_checkout_contacts_visitor_id'), ['visitor_id'],
                              unique=False)


def downgrade_shop():
    with op.batch_alter_table('checkout_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_contacts_visitor_id'))
        batch_op.drop_index(batch_op.f('ix_checkout_contacts_updated_at'))
    op.drop_table('checkout_contacts')


def upgrade_journeys():
    pass


def downgrade_journeys():
    pass
