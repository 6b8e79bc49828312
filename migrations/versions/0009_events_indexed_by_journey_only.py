"""journey events indexed by journey only

The events' visitor_id and occurred_at indexes go. A visitor's events are reached through
their journeys (journeys.visitor_id, then journey_events.journey_id): "customers who viewed
this also viewed" and `journey forget` read them that way. Nothing reads events by time
without a product (the product-views index) or a journey. Measured on the benchmark's
traffic, these two indexes were 43% of the pages each writer commit wrote to SQLite's WAL
(129 of 295 per batch of 170 events), because every journey's entries sit on a leaf page
of their own.

Revision ID: 3f5e8a2c1d47
Revises: 9c6a0d16670e
Create Date: 2026-12-01 21:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f5e8a2c1d47'
down_revision = '9c6a0d16670e'
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_shop():
    pass


def downgrade_shop():
    pass


def upgrade_journeys():
    with op.batch_alter_table('journey_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journey_events_visitor_id'))
        batch_op.drop_index(batch_op.f('ix_journey_events_occurred_at'))


def downgrade_journeys():
    with op.batch_alter_table('journey_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journey_events_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_journey_events_visitor_id'), ['visitor_id'], unique=False)
