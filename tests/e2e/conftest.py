"""Browser fixtures: the store served for real on loopback, and headless Chromium.

``live_store`` runs the app (SQLite only, whatever ``--db`` says) in a werkzeug server thread
on a free port, seeded like ``flask seed``, with localstripe's webhooks pointed at it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select
from werkzeug.serving import make_server

from storefront.app import create_app
from storefront.extensions import db, journey
from tracking.models import journeys

from ..support import free_port, wait_for_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WEBHOOK_SECRET = "whsec_e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage"]
DEFAULT_TIMEOUT_MS = 10_000  # every Playwright wait is bounded (<= 15 s)


@dataclass
class LiveStore:
    url: str
    app: Flask


@pytest.fixture(scope="session")
def e2e_artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def live_store(localstripe, tmp_path):
    app = create_app({
        "TESTING": True,
        "DEMO": True,  # as `make demo` serves it: the payment page lists the test cards
        "SECRET_KEY": "e2e-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'e2e.db'}",
        "STRIPE_API_BASE": localstripe.url,
        "STRIPE_JS_URL": localstripe.url + "/js.stripe.com/v3/",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "JOURNEY_SPOOL_DIR": str(tmp_path / "journey-spool"),
    })
    with app.app_context():
        upgrade()
        result = app.test_cli_runner().invoke(args=["seed", "--orders", "40"])
        assert result.exit_code == 0, result.output
        db.session.remove()

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-store", daemon=True)
    thread.start()
    wait_for_port(port)
    base = f"http://127.0.0.1:{port}"
    localstripe.register_webhook(f"{base}/stripe/webhook", WEBHOOK_SECRET)
    try:
        yield LiveStore(url=base, app=app)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::")[-1])[:120]


@pytest.fixture
def page(browser, request, e2e_artifacts):
    """A fresh context and page per test; on failure: a screenshot and the browser console."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(15_000)
    tab = context.new_page()
    console: list[str] = []
    tab.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    tab.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    tab.on("requestfailed", lambda r: console.append(f"[requestfailed] {r.method} {r.url} "
                                                     f"{r.failure}"))
    yield tab
    name = _safe_name(request.node.nodeid)
    failed = any(
        getattr(request.node, f"rep_{when}", None) is not None
        and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    try:
        if failed:
            tab.screenshot(path=str(e2e_artifacts / f"FAILED-{name}.png"), full_page=True)
            (e2e_artifacts / f"FAILED-{name}.console.txt").write_text(
                f"url: {tab.url}\n" + "\n".join(console) + "\n"
            )
        else:
            tab.screenshot(path=str(e2e_artifacts / f"{name}-final.png"), full_page=True)
    finally:
        context.close()


def fill_guest_address(page) -> None:
    """The checkout's address step as a guest types it (Ada, in London)."""
    page.get_by_label("Email (so we can reach you about this order)").fill("ada@example.com")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address", exact=True).fill("12 Analytical Row")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postcode / ZIP").fill("N1 9GU")
    page.get_by_label("Country").select_option("GB")


def submit_admin_login(page, email: str, password: str) -> None:
    """The panel's sign-in form, on the page now open, filled and sent: the overview opens."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def newest_journey(app: Flask):
    """The journey started last (its row), once every event tracked so far is written."""
    with app.app_context():
        journey.flush()
        with journey.state(app).engine.connect() as conn:
            return conn.execute(select(journeys).order_by(journeys.c.started_at.desc())).first()
