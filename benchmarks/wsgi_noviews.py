"""The store with the tracker on but without its "customers also viewed" log, for
benchmarks/tracking_overhead.py (variant on-noviews): separates what the tracker itself costs
from what the store does because a visitor id exists.

With the tracker on, the product view (storefront/views/shop.py) also inserts a product_views
row and commits (catalog.record_view, for "customers also viewed"); with the kill switch off
there is no visitor id, so it does not. This variant makes record_view a no-op.

    gunicorn -c deploy/gunicorn.conf.py --pythonpath benchmarks wsgi_noviews:app
"""

from storefront import catalog


def _no_record_view(product, visitor) -> None:
    return None


catalog.record_view = _no_record_view  # the view calls catalog.record_view(...) at run time

from storefront.app import create_app  # noqa: E402

app = create_app()
