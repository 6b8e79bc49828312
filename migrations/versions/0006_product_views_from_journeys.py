"""product views from journey events

"Customers also viewed" is read from the tracker's product_view events
(journey_events.product_id) instead of a product_views row the store inserted and
committed on every product page.

Revision ID: 6a1f0c3e9b27
Revises: 27dac9d4c971
Create Date: 2026-11-22 13:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6a1f0c3e9b27'
down_revision = '27dac9d4c971'
branch_labels = None
depends_on = None

_PRODUCT_VIEWS = "touchpoint = 'product_view'"


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_journeys():
    with op.batch_alter_table('journey_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_id', sa.String(length=64), nullable=True))
    # Backfill from the JSON props of the events already stored.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE journey_events SET product_id = props->>'product_id' "
                   "WHERE props->>'product_id' IS NOT NULL")
    else:
        op.execute("UPDATE journey_events SET product_id = json_extract(props, '$.product_id') "
                   "WHERE json_extract(props, '$.product_id') IS NOT NULL")
    op.create_index('ix_journey_events_product_views', 'journey_events',
                    ['product_id', 'occurred_at'], unique=False,
                    postgresql_where=sa.text(_PRODUCT_VIEWS),
                    sqlite_where=sa.text(_PRODUCT_VIEWS))


def downgrade_journeys():
    op.drop_index('ix_journey_events_product_views', table_name='journey_events',
                  postgresql_where=sa.text(_PRODUCT_VIEWS), sqlite_where=sa.text(_PRODUCT_VIEWS))
    with op.batch_alter_table('journey_events', schema=None) as batch_op:
        batch_op.drop_column('product_id')


def upgrade_shop():
    with op.batch_alter_table('product_views', schema=None) as batch_op:
        batch_op.drop_index('ix_product_views_visitor')
        batch_op.drop_index(batch_op.f('ix_product_views_product_id'))
    op.drop_table('product_views')


def downgrade_shop():
    op.create_table(
        'product_views',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('visitor', sa.String(length=64), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('viewed_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'],
                                name=op.f('fk_product_views_product_id_products')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_product_views')),
    )
    with op.batch_alter_table('product_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_views_product_id'), ['product_id'],
                              unique=False)
        batch_op.create_index('ix_product_views_visitor', ['visitor', 'product_id'],
                              unique=False)
