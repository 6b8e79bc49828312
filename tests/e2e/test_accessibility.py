"""axe-core (the engine behind Lighthouse's accessibility audit) finds no violations on the
shop's pages and the owner's panel, on a laptop and on a phone: names for images, regions
and landmarks, heading order, contrast, labels, focusable scrolling tables."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from admin.auth import create_user
from checkout.links import order_token

from .conftest import fill_guest_address, newest_journey, submit_admin_login

PASSWORD = "owner-password-1"
WIDTHS = {"laptop": (1280, 900), "phone": (390, 844)}
SHOP = ["/", "/c/kitchen", "/search?q=mug", "/p/cast-iron-skillet-10-in", "/cart/",
        "/checkout/address", "/account/login", "/account/signup", "/no-such-page", "ORDER"]
PANEL = ["/admin/", "/admin/funnel", "/admin/abandonment", "/admin/journeys?q=ada",
         "/admin/orders", "/admin/reviews", "/admin/outbox", "/admin/audit"]


def violations(page, axe: Axe) -> list[str]:
    found = axe.run(page).response["violations"]
    return [f"{v['impact']} {v['id']}: {v['help']} — "
            + "; ".join(n["html"][:120] for n in v["nodes"][:3]) for v in found]


@pytest.mark.e2e
@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_no_accessibility_violations(live_store, browser, width):
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
        order = f"/orders/{order_token(1)}"  # a seeded, delivered order
    w, h = WIDTHS[width]
    # Reduced motion: no colour caught half-way through a .15 s transition (a pressed button
    # fading to its colour read as low contrast).
    context = browser.new_context(viewport={"width": w, "height": h}, reduced_motion="reduce")
    context.set_default_timeout(10_000)
    page = context.new_page()
    axe = Axe()
    found: dict[str, list[str]] = {}
    try:
        page.goto(f"{live_store.url}/p/cast-iron-skillet-10-in")
        page.get_by_role("button", name="Add to cart").click()  # the cart has a line
        expect(page).to_have_url(re.compile(r"/cart/$"))
        for path in SHOP:
            url = order if path == "ORDER" else path
            page.goto(live_store.url + url)
            found[url] = violations(page, axe)
        # The checkout's later steps, as a guest reaches them: delivery, then the card form.
        page.goto(f"{live_store.url}/checkout/address")
        fill_guest_address(page)
        page.get_by_role("button", name="Continue to delivery").click()
        page.wait_for_url(re.compile(r"/checkout/shipping$"))
        found["/checkout/shipping"] = violations(page, axe)
        page.get_by_role("button", name="Continue to payment").click()
        page.wait_for_url(re.compile(r"/checkout/payment$"))
        expect(page.locator('#card-element input[placeholder="number"]')).to_be_visible()
        found["/checkout/payment"] = violations(page, axe)

        visitor = newest_journey(live_store.app).visitor_id  # this browser's, for the explorer
        page.goto(f"{live_store.url}/admin/login")
        found["/admin/login"] = violations(page, axe)
        submit_admin_login(page, "owner@example.com", PASSWORD)
        for path in [*PANEL, f"/admin/journeys?visitor={visitor}"]:
            page.goto(live_store.url + path)
            # The panel fills its tables and charts from its JSON after the page loads.
            expect(page.locator("td.empty:visible", has_text="Loading…")).to_have_count(0)
            if "visitor=" in path:  # a visitor's journeys (a table made by admin.js)
                expect(page.locator("#detail .table-wrap tbody tr")).not_to_have_count(0)
            found[path] = violations(page, axe)
    finally:
        context.close()
    assert len(found) == len(SHOP) + len(PANEL) + 4
    assert not any(found.values()), "\n".join(f"{url}: {line}" for url, lines in found.items()
                                              for line in lines)
