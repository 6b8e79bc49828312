"""The payment form's script in headless Chromium, against localstripe's fake Stripe.js: what
shoppers really type (spaced card numbers), nothing at all, and cards the API refuses."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ..support import CARD_3DS, CARD_OK
from .conftest import fill_guest_address

pytestmark = pytest.mark.e2e

PRODUCT_URL = "/p/cast-iron-skillet-10-in"  # seeded in stock


@pytest.fixture
def page_errors(page: Page) -> list[str]:
    """Uncaught exceptions in the page's scripts."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
def payment_page(live_store, page: Page, page_errors) -> Page:
    """A guest with one item in the cart, on the payment page."""
    page.goto(live_store.url + PRODUCT_URL)
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart/?$"))
    page.goto(live_store.url + "/checkout/address")
    fill_guest_address(page)
    page.get_by_role("button", name="Continue to delivery").click()
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(re.compile(r"/checkout/payment$"))
    return page


def fill_card(page: Page, number: str, month: str = "12", year: str = "34",
              cvc: str = "123", postal: str = "12345") -> None:
    """Paste into localstripe's five card inputs (one `input` event each, as a paste fires)."""
    for field, value in (("number", number), ("exp_month", month), ("exp_year", year),
                         ("cvc", cvc), ("postal_code", postal)):
        page.locator(f'#card-element input[placeholder="{field}"]').fill(value)


def expect_ready_for_another_try(page: Page, page_errors: list[str]) -> None:
    pay = page.locator("#pay-button")
    expect(pay).to_be_enabled()
    expect(pay).not_to_have_attribute("aria-busy", "true")
    assert page.url.endswith("/checkout/payment")
    assert page_errors == []


@pytest.mark.parametrize("number", ["4242 4242 4242 4242", "4242-4242-4242-4242"])
def test_a_card_number_typed_in_groups_pays(payment_page: Page, number):
    assert number.replace(" ", "").replace("-", "") == CARD_OK
    fill_card(payment_page, number, month=" 12", cvc="123 ")
    payment_page.locator("#pay-button").click()
    payment_page.wait_for_url(re.compile(r"/checkout/confirmation/[^/]+$"), timeout=15_000)
    expect(payment_page.get_by_role("heading", level=1)).to_contain_text("Thank you")


def test_paying_with_empty_card_fields_says_what_to_do(payment_page: Page, page_errors):
    payment_page.locator("#pay-button").click()
    expect(payment_page.locator("#payment-message")).to_have_text(
        "Please check your card number, expiry date and CVC.")
    expect_ready_for_another_try(payment_page, page_errors)


def test_a_card_the_api_refuses_gets_a_readable_message(payment_page: Page, page_errors):
    fill_card(payment_page, "4242 4242", cvc="")
    payment_page.locator("#pay-button").click()
    message = payment_page.locator("#payment-message")
    expect(message).to_have_text("Please check your card number, expiry date and CVC.")
    expect(message).not_to_contain_text("Bad request")
    expect_ready_for_another_try(payment_page, page_errors)
    # The same form then pays once the card is put right.
    fill_card(payment_page, CARD_OK)
    payment_page.locator("#pay-button").click()
    payment_page.wait_for_url(re.compile(r"/checkout/confirmation/[^/]+$"), timeout=15_000)


def test_a_failed_3d_secure_is_recorded_and_the_retry_pays_the_order_on_screen(
        live_store, payment_page: Page, page_errors):
    """The shopper clicks "Fail authentication", then pays again with 3-D Secure and
    completes it: the confirmation names the order the payment page named, and the failed
    attempt is recorded as an authentication failure (as the panel lists it)."""
    from sqlalchemy import select

    from checkout.models import AttemptStatus, Order, PaymentAttempt
    from storefront.extensions import db

    heading = payment_page.get_by_role("heading", name=re.compile(r"^Pay for order TP-\d{6}$"))
    order_number = heading.inner_text().rsplit(" ", 1)[1]
    fill_card(payment_page, CARD_3DS)
    payment_page.locator("#pay-button").click()
    payment_page.get_by_role("button", name="Fail authentication").click()
    expect(payment_page.locator("#payment-message")).to_have_text(
        "Card authentication failed. Please try again or use another card.", timeout=15_000)
    expect_ready_for_another_try(payment_page, page_errors)
    order_id = int(order_number.removeprefix("TP-"))
    with live_store.app.app_context():  # told by the browser, checked with Stripe
        attempts = db.session.scalars(select(PaymentAttempt).where(
            PaymentAttempt.order_id == order_id)).all()
        assert [(a.status, a.error_code) for a in attempts] == [
            (AttemptStatus.FAILED, "authentication_failed")]
    fill_card(payment_page, CARD_3DS)
    payment_page.locator("#pay-button").click()
    payment_page.get_by_role("button", name="Complete authentication").click()
    payment_page.wait_for_url(re.compile(r"/checkout/confirmation/[^/]+$"), timeout=15_000)
    expect(payment_page.locator("[data-order-number]")).to_have_text(order_number)
    with live_store.app.app_context():
        newest = db.session.scalar(select(Order).order_by(Order.id.desc()))
        assert newest.number == order_number and newest.is_paid
