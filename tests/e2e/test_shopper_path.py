"""The whole shopper path in headless Chromium, against localstripe's fake Stripe.js.

Landing -> search -> product -> cart -> guest checkout (address, delivery, payment with a
declined card, then a 3-D Secure card) -> confirmation -> the signed webhook localstripe
delivers -> delivery (CLI) -> order tracking -> a verified review on the product page.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from admin.auth import create_user
from checkout.models import AttemptStatus, Order, PaymentAttempt, PaymentStatus, StripeEvent
from storefront.extensions import db

from ..support import CARD_3DS, CARD_DECLINED
from .conftest import ARTIFACTS, fill_guest_address, submit_admin_login

pytestmark = pytest.mark.e2e

SEARCH_WORD = "skillet"
PRODUCT = "Cast-Iron Skillet 10 in"  # seeded with stock 64, $34.99 (free standard shipping)
REVIEW_TITLE = "Sears like a dream"
REVIEW_BODY = "Even heat, great crust on steaks, and it went straight from hob to oven. (e2e)"
EXPECT_MS = 10_000


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"shopper-{name}.png"), full_page=True)


def enter_card(page: Page, number: str, month: str = "12", year: str = "34",
               cvc: str = "123", postal: str = "12345") -> None:
    """Type into localstripe's five card inputs (each keystroke fires an `input` event)."""
    for field, value in (("number", number), ("exp_month", month), ("exp_year", year),
                         ("cvc", cvc), ("postal_code", postal)):
        box = page.locator(f'#card-element input[placeholder="{field}"]')
        box.fill("")
        box.press_sequentially(value)
        expect(box).to_have_value(value)


def test_guest_shopper_path(live_store, page: Page, localstripe):
    base = live_store.url

    # Landing page, then search from the hero search box.
    page.goto(base + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Everything for home")
    expect(page.get_by_role("heading", name="Shop by category")).to_be_visible()
    shot(page, "01-landing")
    page.locator("#hero-q").fill(SEARCH_WORD)
    page.locator("#hero-q").press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=" + SEARCH_WORD))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Results for “{SEARCH_WORD}”")
    result = page.locator(".results a.card-link", has_text=PRODUCT)
    expect(result).to_have_count(1)
    shot(page, "02-search")
    result.click()

    # Product page: in stock, add one to the cart.
    page.wait_for_url(re.compile(r"/p/cast-iron-skillet-10-in$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(PRODUCT)
    expect(page.locator(".product-info .stock")).to_have_text("In stock")
    shot(page, "03-product")
    page.get_by_role("button", name="Add to cart").click()

    # Cart: the line, free standard shipping and the estimated delivery date.
    page.wait_for_url(re.compile(r"/cart/?$"))
    expect(page.get_by_role("status")).to_contain_text(f"Added {PRODUCT} to your cart.")
    expect(page.locator("[data-cart-count]")).to_have_text("1")
    expect(page.locator(".cart-table")).to_contain_text(PRODUCT)
    expect(page.locator("[data-subtotal]")).to_have_text("$34.99")
    expect(page.locator("[data-shipping]")).to_have_text("Free")
    expect(page.locator(".summary")).to_contain_text("You get free standard shipping.")
    expect(page.locator("[data-delivery]")).to_have_text(
        re.compile(r"^(Monday|Tuesday|Wednesday|Thursday|Friday) \d{2} [A-Z][a-z]+$")
    )
    expect(page.locator(".summary")).to_contain_text("Estimated delivery:")
    shot(page, "04-cart")
    page.get_by_role("link", name="Proceed to checkout").click()

    # Address, as a guest.
    page.wait_for_url(re.compile(r"/checkout/address$"))
    expect(page.locator(".checkout-form")).to_contain_text("Checking out as a guest.")
    fill_guest_address(page)
    shot(page, "05-address")
    page.get_by_role("button", name="Continue to delivery").click()

    # Delivery: choose express (standard would be free on this order).
    page.wait_for_url(re.compile(r"/checkout/shipping$"))
    expect(page.locator("#m-standard")).to_be_checked()
    page.locator("#m-express").check()
    page.get_by_role("button", name="Continue to payment").click()

    # Payment: localstripe's Stripe.js mounts its inputs in #card-element.
    page.wait_for_url(re.compile(r"/checkout/payment$"))
    heading = page.get_by_role("heading", name=re.compile(r"^Pay for order TP-\d{6}$"))
    expect(heading).to_be_visible()
    order_number = heading.inner_text().rsplit(" ", 1)[1]
    order_id = int(order_number.removeprefix("TP-"))
    expect(page.locator(".summary")).to_contain_text("$12.99")  # express shipping
    pay = page.locator("#pay-button")
    expect(pay).to_have_text("Pay $47.98")
    for field in ("number", "exp_month", "exp_year", "cvc", "postal_code"):
        expect(page.locator(f'#card-element input[placeholder="{field}"]')).to_be_visible()
    shot(page, "06-payment")

    # A declined card: the message shows and the shopper stays on the payment page.
    enter_card(page, CARD_DECLINED)
    pay.click()
    message = page.locator("#payment-message")
    expect(message).to_contain_text(re.compile("declined", re.I), timeout=EXPECT_MS)
    expect(message).to_contain_text("Please try another card.")
    expect(pay).to_be_enabled()
    assert page.url == base + "/checkout/payment"
    shot(page, "07-payment-declined")

    # A 3-D Secure card: localstripe's modal, then the confirmation page.
    enter_card(page, CARD_3DS)
    pay.click()
    complete = page.get_by_role("button", name="Complete authentication")
    expect(complete).to_be_visible(timeout=EXPECT_MS)
    expect(page.get_by_role("button", name="Fail authentication")).to_be_visible()
    shot(page, "08-3ds-modal")
    complete.click()
    page.wait_for_url(re.compile(r"/checkout/confirmation/[^/]+$"), timeout=15_000)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Thank you")
    expect(page.locator("[data-order-number]")).to_have_text(order_number)
    expect(page.locator("main")).to_contain_text("We do not send emails")
    shot(page, "09-confirmation")

    # The signed payment_intent.succeeded webhook reaches the running app and is recorded
    # (the row is only written after the signature check passes).
    with live_store.app.app_context():
        attempts = db.session.scalars(
            select(PaymentAttempt).where(PaymentAttempt.order_id == order_id)
            .order_by(PaymentAttempt.id)
        ).all()
        assert [a.status for a in attempts] == [AttemptStatus.FAILED, AttemptStatus.SUCCEEDED]
        intent_id = attempts[-1].payment_intent_id
        assert intent_id
    deadline = time.monotonic() + 10
    recorded = None
    while time.monotonic() < deadline:
        event_ids = [e["id"] for e in
                     localstripe.events_for(intent_id, "payment_intent.succeeded")]
        with live_store.app.app_context():
            recorded = db.session.scalars(
                select(StripeEvent).where(StripeEvent.id.in_(event_ids))
            ).first() if event_ids else None
        if recorded is not None:
            break
        time.sleep(0.25)
    assert recorded is not None, (
        f"no verified payment_intent.succeeded webhook for {intent_id} within 10 s"
    )
    assert recorded.type == "payment_intent.succeeded"
    with live_store.app.app_context():
        order = db.session.get(Order, order_id)
        assert order.payment_status == PaymentStatus.PAID
        assert order.shipping_method == "express"
        assert order.total == 4798

    # Track the order before it moves: paid, nothing further yet.
    page.get_by_role("link", name="Track your order").click()
    page.wait_for_url(re.compile(r"/orders/[^/]+$"))
    order_url = page.url
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order_number}")
    timeline = page.locator("ol.timeline > li")
    expect(timeline).to_have_count(5)
    expect(timeline.filter(has_text="Paid")).to_have_class("done")
    expect(timeline.filter(has_text="Delivered")).to_have_class("todo")
    expect(page.locator(".review-request")).to_have_count(0)

    # The warehouse moves it to delivered: packed, shipped, out for delivery, delivered.
    runner = live_store.app.test_cli_runner()
    for step in ("packed", "shipped", "out_for_delivery", "delivered"):
        result = runner.invoke(args=["orders", "advance", str(order_id)])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip().endswith(f"-> {step}"), result.output

    page.reload()
    expect(page).to_have_url(order_url)
    for label in ("Paid", "Packed", "Shipped", "Out for delivery", "Delivered"):
        expect(timeline.filter(has_text=label)).to_have_class("done")
    expect(page.locator("main")).to_contain_text(" · delivered ")
    shot(page, "10-order-delivered")

    # A five-star review from the buyer.
    form = page.locator("form.review-form")
    expect(form).to_have_count(1)
    form.get_by_label("5 stars").check()
    form.get_by_label("Title").fill(REVIEW_TITLE)
    form.get_by_label("Your review").fill(REVIEW_BODY)
    form.get_by_role("button", name="Submit review").click()
    page.wait_for_url(order_url)
    expect(page.get_by_role("status")).to_contain_text("Thank you for your review!")
    expect(page.locator(".review-request")).to_have_count(0)  # one review per product

    # The product page shows it, newest first, with the verified-buyer badge.
    page.goto(base + "/p/cast-iron-skillet-10-in#reviews")
    review = page.locator("ol.reviews > li.review", has_text=REVIEW_BODY)
    expect(review).to_have_count(1)
    expect(review).to_contain_text(REVIEW_TITLE)
    expect(review).to_contain_text("Ada")
    expect(review.locator(".verified")).to_have_text("✔ Verified buyer")
    expect(review.locator(".stars")).to_have_attribute("aria-label", "Rated 5.0 out of 5")
    expect(page.locator("ol.reviews > li.review").first).to_contain_text(REVIEW_BODY)
    review.scroll_into_view_if_needed()
    shot(page, "11-product-review")

    # The skillet goes back: the buyer asks on the order page, the owner refunds it.
    page.goto(order_url)
    form = page.locator("form.return-form")
    form.get_by_label(re.compile("Skillet")).select_option("1")
    form.get_by_label("Why?").select_option("damaged")
    form.get_by_role("button", name="Request a return").click()
    page.wait_for_url(re.compile(r"#returns$"))
    expect(page.get_by_role("status")).to_contain_text("Your return R-")
    returns = page.locator("#returns")
    expect(returns).to_contain_text("requested")
    expect(returns.locator("form.return-form")).to_have_count(0)  # nothing left to return
    shot(page, "12-return-requested")
    with live_store.app.app_context():
        create_user("owner@example.com", "owner-password-1")
        db.session.commit()
    page.goto(base + "/admin/login")
    submit_admin_login(page, "owner@example.com", "owner-password-1")
    page.goto(base + "/admin/orders#returns")
    row = page.locator("#returns-table tbody tr", has_text=order_number)
    expect(row).to_contain_text("damaged")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name=re.compile("^Refund")).click()
    expect(page.get_by_role("status")).to_contain_text("is refunded")
    assert asked and "Refund $34.99 to ada@example.com's card" in asked[0]
    row = page.locator("#returns-table tbody tr", has_text=order_number)
    expect(row).to_contain_text("refunded")
    # The skillet is looked over and goes back on the shelf, from the owner's phone: the
    # row is a card there, its button on screen rather than past a sideways scroll.
    page.set_viewport_size({"width": 390, "height": 844})
    restock = row.get_by_role("button", name=re.compile("^Restock"))
    restock.scroll_into_view_if_needed()
    box = restock.bounding_box()
    assert box and box["x"] + box["width"] <= 390, box
    shot(page, "13-returns-on-a-phone")
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    restock.click()
    expect(page.get_by_role("status")).to_contain_text("1 item back in stock")
    assert "Put the 1 item of return R-" in asked[1]
    expect(page.locator("#returns-table tbody tr", has_text=order_number)).to_contain_text(
        "back in stock")
    with live_store.app.app_context():  # the panel's audit entry names what went back
        from admin.models import AdminAction  # noqa: PLC0415

        assert db.session.scalar(select(AdminAction.detail).where(
            AdminAction.action == "return_restocked")).endswith(
            ", 1 of 1 item back in stock")
    page.goto(order_url)
    expect(page.locator("#returns")).to_contain_text("refunded")
    # The declined card, on the owner's abandonment page: in words, its code beside
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(base + "/admin/abandonment")
    failure = page.locator("#failures-table tbody tr").first
    expect(failure).to_contain_text("Card declined")
    expect(failure.locator("code")).to_have_text("card_declined")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_long_pasted_search_fits_the_screen(live_store, page: Page, width):
    """One unbroken word of 2,400 characters (a link, a paste): its first 200 are searched for
    and the heading that repeats them wraps, where it made the page 46,000 px wide."""
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_store.url}/search?q={'x' * 2400}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Results for “{'x' * 200}”")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
