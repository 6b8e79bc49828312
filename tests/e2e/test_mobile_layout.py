"""The storefront on a phone (390x844): nothing a shopper needs is off the side of the screen
or below a screenful of controls."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from checkout.links import order_token
from checkout.models import Order
from storefront.extensions import db

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


def assert_on_screen(page: Page, locator, what: str) -> None:
    """Inside the viewport's width, and nothing on the page scrolls sideways to get there."""
    box = locator.bounding_box()
    assert box is not None, what
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (what, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], what
    scrolled = page.evaluate("""() => [...document.querySelectorAll('main *')]
        .filter(e => e.scrollWidth > e.clientWidth + 1
                     && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
        .map(e => e.className || e.tagName)""")
    assert scrolled == [], (what, scrolled)


def test_the_cart_and_an_order_fit_a_phone_as_stacked_rows(live_store, page: Page):
    page.set_viewport_size(PHONE)
    page.goto(live_store.url + "/p/cast-iron-skillet-10-in")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url("**/cart/")
    row = page.locator(".cart-table tbody tr").first
    for what, cell in (("quantity", row.get_by_label("Quantity of Cast-Iron Skillet 10 in")),
                       ("Update", row.get_by_role("button", name="Update")),
                       ("line total", row.locator("[data-line-total]")),
                       ("Remove", row.get_by_role("button", name="Remove"))):
        expect(cell).to_be_visible()
        assert_on_screen(page, cell, what)
    expect(row.locator("[data-line-total]")).to_contain_text("$34.99")

    with live_store.app.app_context():
        order = db.session.scalar(select(Order).where(Order.paid_at.is_not(None))
                                  .order_by(Order.id))
        token = order_token(order.id)
        db.session.remove()
    page.goto(f"{live_store.url}/orders/{token}")
    line = page.locator(".order-table tbody tr").first
    for label in ("Price", "Qty", "Total"):
        cell = line.locator(f'td[data-label="{label}"]')
        expect(cell).to_be_visible()
        assert_on_screen(page, cell, f"order {label}")
    total = page.locator(".order-table [data-total]")
    expect(total).to_be_visible()
    assert_on_screen(page, total, "order total")
    assert_on_screen(page, page.locator("address[data-address]"), "delivery address")


@pytest.mark.parametrize("path", ["/c/kitchen", "/search?q=mug"])
def test_listings_on_a_phone_open_on_products_with_the_filters_folded(live_store, page, path):
    """The Sort, Price and In-stock filters filled the first screen (the first product at
    y=690 of 844): they fold into "Filter & sort", and products come two a row."""
    page.set_viewport_size(PHONE)
    page.goto(live_store.url + path)
    first = page.locator(".results .card h3").first
    box = first.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box
    second = page.locator(".results .card").nth(1).bounding_box()
    assert second is not None and abs(second["y"] - page.locator(
        ".results .card").first.bounding_box()["y"]) < 1, "two cards a row"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    sort = page.get_by_label("Sort by")
    expect(sort).to_be_hidden()
    page.get_by_text("Filter & sort").click()
    expect(sort).to_be_visible()
    sort.select_option("price_asc")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**sort=price_asc**")
    expect(page.locator(".results .card").first).to_be_visible()


def test_on_a_laptop_the_filters_stay_open_beside_the_results(live_store, page):
    page.goto(live_store.url + "/c/kitchen")
    expect(page.get_by_label("Sort by")).to_be_visible()
    expect(page.get_by_label("In stock only")).to_be_visible()
    expect(page.get_by_text("Filter & sort")).to_be_hidden()


def test_the_landing_page_on_a_phone_has_one_search_a_one_row_header_and_products_soon(
        live_store, page: Page):
    """The header's brand and account links share a row; the hero does not repeat the
    header's search box; categories go two a row by name, so the first products are within
    two screens (one column of described categories put them three screens down)."""
    page.set_viewport_size(PHONE)
    page.goto(live_store.url + "/")
    searches = page.locator("input[type=search]")
    visible = [i for i in range(searches.count()) if searches.nth(i).is_visible()]
    assert len(visible) == 1, visible
    brand = page.locator(".site-header .brand").bounding_box()
    cart = page.locator(".site-header .cart-link").bounding_box()
    assert abs(brand["y"] + brand["height"] / 2 - (cart["y"] + cart["height"] / 2)) < 12, \
        (brand, cart)
    assert page.locator(".site-header").bounding_box()["height"] <= 120
    first_card = page.locator(".card").first.bounding_box()
    assert first_card["y"] < 2 * PHONE["height"], first_card
    assert_on_screen(page, page.locator(".categories").first, "categories")
