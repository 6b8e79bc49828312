"""The tracker's two tables, in SQLAlchemy Core on their own MetaData.

A host app adds ``tracking.models.metadata`` to its Alembic target metadata so its
migrations create them (this project's ``migrations/env.py`` does).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    text,
)

from .touchpoints import STAGES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Append-only: one row per touchpoint; event_id makes a replay a no-op.
journey_events = Table(
    "journey_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    # Indexed by journey alone: the explorer and `journey forget` reach a visitor's events
    # through their journeys. Each index costs every insert a B-tree page; an index by
    # visitor was a fifth of the pages the writer wrote, for one query (co_viewed).
    Column("journey_id", String(32), index=True),
    Column("visitor_id", String(32)),
    Column("session_id", String(32)),
    # Not indexed: a customer's or an order's events are found through their journeys
    # (journeys.customer_id, journeys.order_ref), and every index costs each insert.
    Column("customer_id", String(64)),
    Column("order_ref", String(64)),
    Column("touchpoint", String(40), nullable=False),
    Column("stage", String(16)),
    # Not indexed alone: nothing reads events by time without a product or a journey.
    Column("occurred_at", DateTime, nullable=False),
    Column("props", JSON, nullable=False),
    # The product a touchpoint is about (props["product_id"]), as a column so "customers
    # who viewed this also viewed" is an indexed query (JourneyTracker.co_viewed).
    Column("product_id", String(64)),
    Index("ix_journey_events_product_views", "product_id", "occurred_at",
          postgresql_where=text("touchpoint = 'product_view'"),
          sqlite_where=text("touchpoint = 'product_view'")),
)

_stage_columns = [Column(f"entered_{s.label}_at", DateTime) for s in STAGES]

journeys = Table(
    "journeys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("visitor_id", String(32), index=True),
    Column("customer_id", String(64), index=True),
    Column("order_ref", String(64), index=True),
    Column("stage", String(16), nullable=False),
    Column("stage_rank", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # active, purchased, abandoned, recovered
    Column("started_at", DateTime, nullable=False, index=True),
    Column("last_seen_at", DateTime, nullable=False),
    Column("last_touchpoint", String(40), nullable=False),
    *_stage_columns,
    Column("abandoned_at", DateTime),
    Column("abandoned_stage", String(16)),
    Column("recovered_at", DateTime),
    Column("source", String(200)),
    Column("medium", String(200)),
    Column("campaign", String(200)),
    Column("referrer_host", String(200)),
    Column("device", String(16)),
    Column("landing_page", String(500)),
    Column("ip_net", String(64)),  # truncated: /24 for IPv4, /48 for IPv6
    # When this visitor's previous journey started (None: their first). Counting the
    # journeys of a period whose previous one started before it counts distinct visitors
    # in one pass, with no DISTINCT over a million ids.
    Column("previous_started_at", DateTime),
    Column("value", BigInteger),  # minor units of the purchase
    Column("currency", String(3)),
    Column("sessions", Integer, nullable=False, default=1),
    Column("events", Integer, nullable=False, default=0),
    Index("ix_journeys_status_last_seen", "status", "last_seen_at"),
)

# Partial indexes for the panel's aggregates (measured by benchmarks/admin_endpoints.py at
# 1,000,000 journeys): each covers only the rows its query wants.
_cart_stages = "abandoned_stage IN ('cart', 'checkout', 'payment')"
_purchased = "entered_purchase_at IS NOT NULL"
_awaiting = "status IN ('purchased', 'recovered') AND stage IN ('purchase', 'shipped')"
for _name, _columns, _where, _include in (
    ("ix_journeys_entered_purchase_at", ["entered_purchase_at"], _purchased, []),
    ("ix_journeys_purchased_started", ["started_at"], _purchased, ["entered_purchase_at"]),
    ("ix_journeys_cart_abandoned_at", ["abandoned_at"], _cart_stages,
     ["status", "abandoned_stage", "last_touchpoint"]),
    ("ix_journeys_awaiting_delivery", ["stage"], _awaiting, []),
):
    Index(_name, *(journeys.c[c] for c in _columns), postgresql_where=text(_where),
          sqlite_where=text(_where), postgresql_include=_include)

# What is in each journey's cart: kept by the writer from add/remove events (an atomic
# upsert per line, safe with several writers), so the panel never scans events for it.
journey_cart_lines = Table(
    "journey_cart_lines",
    metadata,
    Column("journey_id", String(32), primary_key=True),
    Column("product_id", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),  # net of removals
    Column("unit_value", BigInteger, nullable=False),  # minor units, from the latest add
)

STATUSES = ("active", "purchased", "abandoned", "recovered")
