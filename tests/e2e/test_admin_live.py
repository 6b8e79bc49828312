"""The owner's overview in one browser, a shopper in another: the live counts move."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from admin.auth import create_user
from storefront.extensions import journey

from .conftest import newest_journey, submit_admin_login

PASSWORD = "owner-password-1"


def log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    submit_admin_login(page, "shop.owner@touchpoint.example", PASSWORD)


@pytest.mark.e2e
def test_admin_sees_a_shopper_add_to_cart_without_reloading(live_store, browser, page,
                                                            e2e_artifacts):
    with live_store.app.app_context():
        create_user("shop.owner@touchpoint.example", PASSWORD)

    log_in(page, live_store.url)
    # On a laptop's 1280 px the header is one row: the eight sections and who is signed in,
    # whichever section is current (its label is bold, so wider).
    for section in ("abandonment", "outbox", ""):  # last, the overview the test goes on on
        page.goto(f"{live_store.url}/admin/{section}")
        tops = page.evaluate("[...document.querySelectorAll('.admin-nav li, .admin-user')]"
                             ".map((e) => { const r = e.getBoundingClientRect();"
                             " return Math.round(r.y + r.height / 2); })")
        assert len(tops) == 9 and max(tops) - min(tops) < 8, (section, tops)
    # Narrower, the sections take a row of their own: the sign-out stays by the brand.
    page.set_viewport_size({"width": 1024, "height": 900})
    brand, nav, user = (page.locator(sel).bounding_box()
                        for sel in (".admin-header .brand", ".admin-nav", ".admin-user"))
    assert abs(brand["y"] + brand["height"] / 2 - user["y"] - user["height"] / 2) < 8
    assert nav["y"] >= brand["y"] + brand["height"], (brand, nav)
    page.screenshot(path=str(e2e_artifacts / "admin-01-header-1024.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    cart = page.locator('[data-live-stage="cart"]')
    expect(cart).to_have_text(re.compile(r"^\d+$"))
    for stage in ("landing", "browse", "checkout", "payment", "purchase"):
        expect(page.locator(f'[data-live-stage="{stage}"]')).to_have_text(re.compile(r"^\d+$"))
    before = int(cart.inner_text())
    # No Delivered or Reviewed tile or bar: a journey there is never live (always 0).
    expect(page.locator("[data-live-stage]")).to_have_count(7)
    live_chart = page.locator("#live-chart")
    expect(live_chart).to_have_attribute("aria-label", re.compile(r"Shipped: \d+\.$"))
    assert not re.search(r"Delivered|Reviewed", live_chart.get_attribute("aria-label"))
    # Each bar has its count over it (a stage of 2 beside one of 80 is a sliver), room left
    # above the tallest for it
    drawn = page.evaluate("""() => {
        const c = Chart.getChart(document.getElementById('live-chart'));
        return {plugins: c.config.plugins.map((p) => p.id), top: c.options.layout.padding.top};
    }""")
    assert drawn["plugins"] == ["barValues"] and drawn["top"] >= 14, drawn
    expect(page.locator("[data-live-awaiting]")).to_have_text("0 paid orders")  # all delivered
    page.evaluate("window.__notReloaded = true")
    page.screenshot(path=str(e2e_artifacts / "admin-01-overview.png"), full_page=True)

    shopper_context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        shopper = shopper_context.new_page()
        shopper.goto(f"{live_store.url}/p/cast-iron-skillet-10-in")
        shopper.get_by_role("button", name="Add to cart").click()
        expect(shopper).to_have_url(re.compile(r"/cart/$"))
        # Within 5 seconds of the shopper's action, with no reload of the panel.
        expect(cart).to_have_text(str(before + 1), timeout=5_000)
        assert page.evaluate("window.__notReloaded") is True
        page.screenshot(path=str(e2e_artifacts / "admin-02-overview-live.png"), full_page=True)
    finally:
        shopper_context.close()

    for name in ("funnel", "abandonment", "journeys", "orders", "reviews"):
        page.goto(f"{live_store.url}/admin/{name}")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.screenshot(path=str(e2e_artifacts / f"admin-{name}.png"), full_page=True)


@pytest.mark.e2e
def test_explorer_timeline_names_orders_as_the_shop_does(live_store, page):
    """A touchpoint's order reads TP-000007 in the timeline, as on the order pages and in the
    search box, not as the database's 7."""
    app = live_store.app
    with app.app_context():
        create_user("shop.owner@touchpoint.example", PASSWORD)
    assert app.test_client().get("/p/cast-iron-skillet-10-in").status_code == 200
    journey_id = newest_journey(app).id
    with app.app_context():
        journey.track("order_view", journey_id=journey_id, order_ref=7)
        journey.flush()

    log_in(page, live_store.url)
    page.goto(f"{live_store.url}/admin/journeys?journey={journey_id}")
    item = page.locator(".tl-item", has_text="order_view")
    expect(item.locator("dd")).to_have_text(["TP-000007"])
    page.goto(f"{live_store.url}/admin/journeys?q=TP-000007")
    expect(page.locator("#results-table")).to_contain_text(f"…{journey_id[-8:]}")
