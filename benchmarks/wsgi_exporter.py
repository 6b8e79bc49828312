"""The store with prometheus-flask-exporter around it, for benchmarks/tracking_overhead.py.

    export JOURNEY_ENABLED=false
    gunicorn -c deploy/gunicorn.conf.py --pythonpath benchmarks wsgi_exporter:app

prometheus-flask-exporter is a benchmark-only dependency (`.venv/bin/pip install
prometheus-flask-exporter`). Its defaults: a request-duration histogram by method, path and
status, a request counter, and its own /metrics (the tracker's, off here, would clash).
"""

from prometheus_flask_exporter import PrometheusMetrics

from storefront.app import create_app

app = create_app()
if app.extensions["journey"].enabled:
    raise RuntimeError("wsgi_exporter measures the exporter alone: set JOURNEY_ENABLED=false")
metrics = PrometheusMetrics(app)
