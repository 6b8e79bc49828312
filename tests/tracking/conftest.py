"""A bare Flask app with nothing but the tracker: the plugin as any shop would add it."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify, request

from tracking import JourneyTracker


def make_bare_app(db_url: str, **config) -> tuple[Flask, JourneyTracker]:
    app = Flask(__name__)
    spool = db_url.rsplit("/", 1)[0].removeprefix("sqlite:///") + "/spool"
    app.config.update({"SECRET_KEY": "bare-secret", "JOURNEY_DATABASE_URL": db_url,
                       "TESTING": True, "JOURNEY_SWEEP_INTERVAL": 0,
                       "JOURNEY_SPOOL_DIR": spool, **config})
    journey = JourneyTracker(app)

    @app.get("/")
    def home():
        return "<h1>Home</h1>"

    @app.get("/products/<int:pid>")
    def product(pid: int):
        journey.track("product_view", product_id=str(pid), price=1000, currency="EUR")
        return f"<h1>Product {pid}</h1>"

    @app.get("/category/<slug>")
    @journey.tracks("category_view", category=lambda slug: slug)
    def category(slug: str):
        return f"<h1>{slug}</h1>"

    @app.post("/cart")
    def cart():
        journey.track("add_to_cart", product_id=request.form["pid"], quantity=1, value=1000,
                      currency="EUR")
        return jsonify(ok=True)

    @app.post("/checkout")
    def checkout():
        journey.track("checkout_start", value=1000, currency="EUR")
        journey.track("checkout_address", country="FR")
        journey.track("checkout_shipping", method="standard", cost=0)
        journey.track("payment_submitted", order_ref="A1", value=1000, currency="EUR")
        return jsonify(journey=journey.current_journey_id())

    @app.post("/login")
    def login():
        journey.identify(request.form["customer"])
        return jsonify(ok=True)

    @app.get("/health")
    @journey.exempt
    def health():
        return "ok"

    with app.app_context():
        journey.create_all()
    return app, journey


@pytest.fixture
def bare(tmp_path):
    app, journey = make_bare_app(f"sqlite:///{tmp_path}/bare.db")
    yield app, journey
    with app.app_context():
        app.extensions["journey"].close()
