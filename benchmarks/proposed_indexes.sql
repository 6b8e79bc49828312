-- Indexes proposed for the admin panel's queries (admin/queries.py); not part of the schema.
-- Try them: .venv/bin/python benchmarks/admin_endpoints.py --extra-sql benchmarks/proposed_indexes.sql

-- trend(): purchases per bucket filtered on entered_purchase_at had no index (a full scan).
CREATE INDEX IF NOT EXISTS ix_journeys_entered_purchase_at
    ON journeys (entered_purchase_at) WHERE entered_purchase_at IS NOT NULL;

-- time_to_convert(): the period's purchasers only, index-only.
CREATE INDEX IF NOT EXISTS ix_journeys_purchased_started
    ON journeys (started_at) INCLUDE (entered_purchase_at) WHERE entered_purchase_at IS NOT NULL;

-- abandonment() and trend()'s "abandoned" series: every query filters abandoned_at to a period
-- AND abandoned_stage IN (cart, checkout, payment); ix_journeys_abandoned_at also holds every
-- bounce and browse exit (~95% of abandoned rows), which were fetched and filtered out.
-- (Every query using ix_journeys_abandoned_at has that stage filter, so this can replace it.)
CREATE INDEX IF NOT EXISTS ix_journeys_cart_abandoned_at
    ON journeys (abandoned_at) INCLUDE (status, abandoned_stage, last_touchpoint)
    WHERE abandoned_stage IN ('cart', 'checkout', 'payment');

-- live() / tracking.store.count_active(): "awaiting delivery" matched every purchased or
-- recovered journey through ix_journeys_status_last_seen, then checked stage on the heap.
CREATE INDEX IF NOT EXISTS ix_journeys_awaiting_delivery
    ON journeys (stage) WHERE status IN ('purchased', 'recovered') AND stage IN ('purchase', 'shipped');
