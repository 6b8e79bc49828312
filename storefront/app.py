"""The composition root: create_app() wires every area of the shop together."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, abort, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config
from .extensions import csrf, db, journey, login_manager, migrate

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    if test_config and test_config.get("TESTING"):
        app.testing = True
    config.load(app, test_config)
    from checkout import mail

    mail.configure(app)  # MAIL_URL read now: a typo is said at start
    if app.config["TRUSTED_PROXIES"]:
        # The client's address and scheme as the proxies saw them, not the last proxy's:
        # the login throttle, the audit log and the tracker key on the client's network.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    # Flask's own defaults are None for these, so setdefault() would not do.
    for key, value in (("SESSION_COOKIE_SAMESITE", "Lax"), ("REMEMBER_COOKIE_SAMESITE", "Lax"),
                       ("REMEMBER_COOKIE_HTTPONLY", True),
                       ("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])):
        if app.config.get(key) is None:
            app.config[key] = value

    db.init_app(app)
    migrate.init_app(
        app, db, directory=MIGRATIONS, render_as_batch=True, compare_type=True,
        compare_server_default=True,
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    journey.init_app(app)
    if app.config["JOURNEY_ENABLED"]:  # the store's revenue series from the first scrape
        journey.state(app).metrics.revenue.labels(app.config["STORE_CURRENCY"])
        journey.state(app).metrics.refunds.labels(app.config["STORE_CURRENCY"])
    journey.collect_when_scraped(mail.OutboxCollector(app), app)  # mail waiting to go out
    login_manager.login_view = "account.login"
    login_manager.login_message = "Please log in to see that page."

    from admin import cli as admin_cli
    from admin import models as _admin_models  # noqa: F401  (tables for migrations)
    from admin import views as admin_views
    from checkout import cli as checkout_cli
    from checkout import contacts as _contacts  # noqa: F401  (erased with a visitor)
    from checkout import models as _checkout_models  # noqa: F401  (tables for migrations)
    from checkout import seed, webhooks
    from checkout import views as checkout_views

    from . import accounts
    from .views import account, cart, shop

    login_manager.user_loader(accounts.customer_for_session)

    journey.exempt(webhooks.bp)  # Stripe is not a shopper
    journey.exempt(admin_views.bp)  # nor is the shop owner
    for blueprint in (shop.bp, cart.bp, account.bp, checkout_views.bp, webhooks.bp,
                      admin_views.bp):
        app.register_blueprint(blueprint)
    app.cli.add_command(seed.seed_command)
    app.cli.add_command(checkout_cli.orders_cli)
    app.cli.add_command(admin_cli.admin_cli)
    from tracking.cli import journey_cli

    journey_cli.add_command(checkout_cli.simulate_command)  # drives this store's pages

    from . import catalog

    app.extensions["storefront.also_viewed"] = catalog.ProductCache(
        app.config["ALSO_VIEWED_CACHE_SECONDS"])

    _register_template_helpers(app)
    _register_error_pages(app)
    _register_security_headers(app)
    from . import health, openapi

    openapi.init_app(app)
    health.init_app(app)
    return app


def _register_security_headers(app: Flask) -> None:
    """No inline script anywhere (pages pass data in data-* attributes), no framing."""
    from urllib.parse import urlsplit

    stripe_js = urlsplit(app.config["STRIPE_JS_URL"])
    stripe = f"{stripe_js.scheme}://{stripe_js.netloc}"
    policy = "; ".join((
        "default-src 'self'",
        f"script-src 'self' {stripe}",
        f"connect-src 'self' {stripe}",  # Stripe.js talks to its API from the page
        f"frame-src {stripe}",
        "img-src 'self' data:",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))

    def refuse_oversized() -> None:
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            abort(413)

    # First of all before_request hooks: before CSRF reads (and chokes on) a huge form.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversized)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        return response


def _register_template_helpers(app: Flask) -> None:
    from .money import Money
    from .web import current_cart

    @app.template_filter("money")
    def money_filter(amount: int, currency: str | None = None) -> str:
        return Money(int(amount), currency or app.config["STORE_CURRENCY"]).format()

    @app.context_processor
    def shop_context():
        def cart_count() -> int:
            cart = current_cart()
            return sum(i.quantity for i in cart.items) if cart else 0

        return {
            "store_name": app.config["STORE_NAME"],
            "cart_count": cart_count,
            "current_user": current_user,
        }


def _register_error_pages(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    from .web import error_response

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        return error_response("Your session expired or the form was tampered with. "
                              "Please go back, reload the page and try again.", 400)

    messages = {
        400: "The request could not be understood.",
        404: "We could not find that page.",
        405: "That action is not allowed here.",
        413: "That request is too large.",
        500: "Something went wrong on our side. Please try again.",
    }
    for status, message in messages.items():
        # HTML for pages, JSON for API clients; never a stack trace.
        app.register_error_handler(
            status, lambda exc, status=status, message=message: error_response(message, status)
        )

