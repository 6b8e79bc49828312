"""Fulfilment state machine, the CLI, order pages with the delivery timeline, buyer reviews."""

import re

import pytest
from sqlalchemy import select

from checkout import fulfilment
from checkout.errors import InvalidTransition
from checkout.links import order_token
from checkout.models import FulfilmentEvent, FulfilmentStatus, Order
from storefront.extensions import db
from storefront.models import Product, Review

from . import factories
from .support import CARD_OK


@pytest.fixture
def paid_order(shopper, shop_db):
    mug = factories.product("Mug", price=1500, stock=5)
    pen = factories.product("Pen", price=800, stock=5)
    shopper.add_to_cart(mug.id)
    shopper.add_to_cart(pen.id)
    shopper.to_payment()
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    return db.session.scalar(select(Order))


def test_allowed_moves_table_is_explicit():
    S = FulfilmentStatus
    assert fulfilment.ALLOWED_MOVES[S.UNFULFILLED] == {S.PACKED}
    assert fulfilment.ALLOWED_MOVES[S.DELIVERED] == frozenset()
    for status in S:
        assert status in fulfilment.ALLOWED_MOVES


def test_advance_walks_the_timeline_and_records_history(app, paid_order):
    runner = app.test_cli_runner()
    outputs = [runner.invoke(args=["orders", "advance", str(paid_order.id)]).stdout
               for _ in range(4)]
    assert outputs[0].strip() == f"Order {paid_order.number}: unfulfilled -> packed"
    assert outputs[3].strip() == f"Order {paid_order.number}: out_for_delivery -> delivered"
    db.session.expire_all()
    order = db.session.get(Order, paid_order.id)
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED and order.delivered_at
    history = db.session.scalars(select(FulfilmentEvent).order_by(FulfilmentEvent.id)).all()
    assert [(e.from_status, e.to_status, e.actor) for e in history] == [
        ("unfulfilled", "packed", "cli"), ("packed", "shipped", "cli"),
        ("shipped", "out_for_delivery", "cli"), ("out_for_delivery", "delivered", "cli"),
    ]
    again = runner.invoke(args=["orders", "advance", str(paid_order.id)])
    assert again.exit_code != 0 and "already delivered" in again.output


def test_advance_takes_the_order_number_the_shopper_and_the_panel_show(app, paid_order):
    runner = app.test_cli_runner()
    by_number = runner.invoke(args=["orders", "advance", paid_order.number.lower()])
    assert by_number.exit_code == 0, by_number.output
    assert by_number.stdout.strip() == f"Order {paid_order.number}: unfulfilled -> packed"
    wrong = runner.invoke(args=["orders", "advance", "TP-12a"])
    assert wrong.exit_code == 2 and "not an order number" in wrong.output


def test_moves_outside_the_table_are_refused(paid_order):
    with pytest.raises(InvalidTransition, match="cannot go from unfulfilled to shipped"):
        fulfilment.transition(paid_order, FulfilmentStatus.SHIPPED)


def test_unpaid_orders_cannot_be_fulfilled(app, shopper, shop_db):
    mug = factories.product("Mug", stock=5)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    order = db.session.scalar(select(Order))
    result = app.test_cli_runner().invoke(args=["orders", "advance", str(order.id)])
    assert result.exit_code != 0 and "is not paid" in result.output
    missing = app.test_cli_runner().invoke(args=["orders", "advance", "9999"])
    assert missing.exit_code != 0 and "no order 9999" in missing.output


def test_order_page_shows_the_delivery_timeline(client, paid_order):
    url = f"/orders/{order_token(paid_order.id)}"
    html = client.get(url).get_data(as_text=True)
    assert paid_order.number in html
    assert paid_order.estimated_delivery.strftime("%A %d %B %Y") in html
    assert html.count('<li class="done">') == 1 and html.count('<li class="todo">') == 4
    fulfilment.advance(paid_order.id)
    fulfilment.advance(paid_order.id)
    html = client.get(url).get_data(as_text=True)
    assert html.count('<li class="done">') == 3
    assert "Review your purchase" not in html, "no review request before delivery"


def test_order_links_are_signed(client, paid_order):
    assert client.get(f"/orders/{paid_order.id}").status_code == 404
    assert client.get(f"/orders/{order_token(paid_order.id)}x").status_code == 404


def test_account_lists_the_customers_orders(shopper, shop_db):
    shopper.signup("lee@example.com")
    mug = factories.product("Mug", stock=5)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    shopper.pay(CARD_OK)
    html = shopper.client.get("/account/orders").get_data(as_text=True)
    order = db.session.scalar(select(Order))
    assert order.number in html and f"/orders/{order_token(order.id)}" in html
    assert shopper.post("/account/logout").status_code == 302
    assert shopper.client.get("/account/orders").headers["Location"].startswith("/account/login")


def deliver(order_id: int) -> None:
    for _ in range(4):
        fulfilment.advance(order_id)


def test_after_delivery_the_buyer_reviews_with_a_verified_badge(shopper, paid_order):
    deliver(paid_order.id)
    url = f"/orders/{order_token(paid_order.id)}"
    html = shopper.client.get(url).get_data(as_text=True)
    assert "Review your purchase" in html and html.count('class="review-form"') == 2
    mug_id = paid_order.lines[0].product_id
    bad = shopper.post(f"{url}/reviews", {"product_id": mug_id, "rating": 9, "body": "Good mug"})
    assert bad.status_code == 400
    assert "Choose 1 to 5 stars." in bad.get_data(as_text=True)
    assert "Good mug" in bad.get_data(as_text=True), "the text typed is kept"
    ok = shopper.post(f"{url}/reviews", {"product_id": mug_id, "rating": 4, "title": "Solid",
                                         "body": "Good mug, keeps coffee hot."})
    assert ok.status_code == 302
    twice = shopper.post(f"{url}/reviews", {"product_id": mug_id, "rating": 1, "body": "again"})
    assert twice.status_code == 409
    db.session.expire_all()
    review = db.session.scalar(select(Review))
    assert review.verified and review.order_id == paid_order.id and review.rating == 4
    product = db.session.get(Product, mug_id)
    assert (product.rating_count, product.rating) == (1, 4.0)
    page = shopper.client.get(f"/p/{product.slug}").get_data(as_text=True)
    assert "Good mug, keeps coffee hot." in page and "Verified buyer" in page
    assert "4.0 out of 5" in page
    html = shopper.client.get(url).get_data(as_text=True)
    assert html.count('class="review-form"') == 1, "only the pen is left to review"


def test_review_form_errors_are_in_the_shoppers_words(shopper, paid_order):
    deliver(paid_order.id)
    url = f"/orders/{order_token(paid_order.id)}/reviews"
    mug_id = paid_order.lines[0].product_id
    for form in ({"product_id": mug_id, "title": "", "body": "ok"},  # no star chosen
                 {"product_id": mug_id, "rating": "", "body": ""},
                 {"product_id": mug_id}):
        response = shopper.post(url, form)
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert "Choose a star rating." in html and "Write at least 3 characters." in html, form
        for raw in ("Missing data", "Length must be", "Not a valid"):
            assert raw not in html, (raw, form)
    assert db.session.scalar(select(Review)) is None


def test_control_characters_in_a_review_are_refused(shopper, paid_order):
    deliver(paid_order.id)
    url = f"/orders/{order_token(paid_order.id)}/reviews"
    response = shopper.post(url, {"product_id": paid_order.lines[0].product_id, "rating": 5,
                                  "title": "Fine", "body": "Good\x00 mug.\r\nKeeps it hot."})
    assert response.status_code == 400
    assert "Remove the invisible control characters." in response.get_data(as_text=True)
    assert db.session.scalar(select(Review)) is None


def test_reviews_before_delivery_are_refused(shopper, paid_order):
    url = f"/orders/{order_token(paid_order.id)}/reviews"
    response = shopper.post(url, {"product_id": paid_order.lines[0].product_id, "rating": 5,
                                  "body": "Early!"})
    assert response.status_code == 409
    assert "once your order has been delivered" in response.get_data(as_text=True)


def test_simulated_reviews_say_what_their_stars_say_under_varied_names(monkeypatch):
    """The simulator's reviews are public on the product pages: a 1-star review is no
    praise, the words vary, and so do the buyers' names."""
    import random
    from collections import Counter

    from checkout import simulator

    posted: list[dict] = []

    class Buyer:  # the order page of a delivered order, with its review form
        def __init__(self, *args, **kwargs):
            pass

        def get(self, path):
            return '<input type="hidden" name="product_id" value="7">'

        def post(self, path, data, **kwargs):
            posted.append(data)

    monkeypatch.setattr(simulator, "Browser", Buyer)
    sim = simulator.Simulation(simulator.SimulationConfig(base_url="http://127.0.0.1:9"))
    rng = random.Random(20261207)
    for _ in range(2000):
        journey = simulator.JourneyTruth(order_url=f"/orders/{rng.random()}")
        sim._review(simulator.ShopperResult("p", "desktop"), journey, rng)
        assert journey.furthest == simulator.STAGES.index("reviewed")
    texts = {stars: set(options) for stars, options in simulator.REVIEWS.items()}
    for review in posted:
        assert (review["title"], review["body"]) in texts[review["rating"]], review
    assert "Arrived on time and works as described." not in {r["body"] for r in posted}
    for stars in range(1, 6):
        assert len({r["body"] for r in posted if r["rating"] == stars}) >= 3, stars
    # The same J-shaped spread of stars as before, about 4.15 on average.
    share = Counter(r["rating"] for r in posted)
    assert abs(share[5] / len(posted) - 0.50) < 0.05 and abs(share[1] / len(posted) - 0.05) < 0.02
    assert 4.0 < sum(r["rating"] for r in posted) / len(posted) < 4.3
    # Nothing a seeded review says word for word (item 33 of the demo review).
    from storefront.catalog_data import REVIEW_TEXTS
    seeded = {body for options in REVIEW_TEXTS.values() for _title, body in options}
    assert not seeded & {body for options in simulator.REVIEWS.values() for _t, body in options}
    names = {simulator.shopper_name(rng).split(" ")[0] for _ in range(200)}
    assert len(names) >= 15 and "Sim" not in names


def test_confirmation_and_order_page_show_what_was_ordered_and_where_it_goes(shopper, shop_db):
    mug = factories.product("Mug", price=1500, stock=5)
    pen = factories.product("Pen", price=800, stock=5)
    shopper.add_to_cart(mug.id, 2)
    shopper.add_to_cart(pen.id)
    shopper.to_payment(method="express", line2="Flat 3")
    confirmation = shopper.pay(CARD_OK).get_json()["redirect"]
    order = db.session.scalar(select(Order))
    pages = {"confirmation": shopper.client.get(confirmation).get_data(as_text=True),
             "order page": client_get(shopper, f"/orders/{order_token(order.id)}")}
    for name, html in pages.items():
        items = html[html.index('id="items-h"'):html.index('id="addr-h"')]
        cells = re.sub(r"<td[^>]*>", "<td>", items)  # each cell's label is beside it
        assert "<td>Mug</td>" in cells and "<td>$15.00</td><td>2</td><td>$30.00</td>" in cells
        assert "<td>Pen</td>" in cells and "<td>$8.00</td><td>1</td><td>$8.00</td>" in cells
        assert "Subtotal</th><td data-subtotal>$38.00</td>" in items, name
        assert "Shipping (Express)</th><td data-shipping>$12.99</td>" in items, name
        assert "Total</th><td data-total>$50.99</td>" in items, name
        address = html[html.index("<address data-address>"):html.index("</address>")]
        assert ("Ada Lovelace<br>12 Analytical Row<br>Flat 3<br>London N1 9GU<br>United Kingdom"
                in address), name
        assert order.created_at.strftime("%d %b %Y, %H:%M") + " UTC" in html, name
    # Every time on the timeline says its zone.
    assert order.paid_at.strftime("%d %b %H:%M") + " UTC</span>" in pages["order page"]
    assert "payment paid" not in pages["order page"]


def client_get(shopper, url: str) -> str:
    response = shopper.client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)
