"""Accounts (hashed passwords, guest allowed) and the database cart that follows a customer."""

from datetime import date

from sqlalchemy import select

from storefront import shipping
from storefront.extensions import db
from storefront.models import Cart, Customer, Product

from . import factories


def test_signup_login_logout(shopper, shop_db):
    response = shopper.signup("Ada@Example.com", name="Ada")
    assert response.status_code == 302
    customer = db.session.scalar(select(Customer))
    assert customer.email == "ada@example.com"
    assert customer.password_hash != "correct horse 1"
    assert customer.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert "Log out" in shopper.client.get("/").get_data(as_text=True)
    assert shopper.post("/account/logout").status_code == 302
    assert "Log in" in shopper.client.get("/").get_data(as_text=True)
    assert shopper.login("ada@example.com").status_code == 302
    assert "My orders" in shopper.client.get("/").get_data(as_text=True)


def test_bad_signup_and_login_keep_what_was_typed(shopper, shop_db):
    response = shopper.post("/account/signup", {"name": "Bo", "email": "not-an-email",
                                                  "password": "short"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'value="Bo"' in html and 'value="not-an-email"' in html
    assert "Enter an email address like ada@example.com." in html
    assert "Use 8 to 200 characters for your password." in html
    assert "short" not in html.split("<main")[1].split('type="password"')[1][:40]
    shopper.signup("bo@example.com")
    other = shopper.post("/account/signup", {"name": "B", "email": "BO@example.com",
                                              "password": "12345678"})
    assert other.status_code == 400 and "already exists" in other.get_data(as_text=True)
    wrong = shopper.post("/account/login", {"email": "bo@example.com", "password": "nope-nope"})
    assert wrong.status_code == 400
    assert "Email or password is wrong." in wrong.get_data(as_text=True)


def test_empty_sign_up_and_login_forms_say_what_to_enter(shopper, shop_db):
    login = shopper.post("/account/login", {"email": "", "password": ""})
    assert login.status_code == 400
    html = login.get_data(as_text=True)
    assert "Enter an email address like ada@example.com." in html
    assert "Enter your password." in html
    signup = shopper.post("/account/signup", {})  # a form with none of its fields
    assert signup.status_code == 400
    html += signup.get_data(as_text=True)
    for message in ("Enter your name.", "Enter your email address.",
                    "Choose a password of 8 to 200 characters."):
        assert message in html, message
    for raw in ("Missing data", "Length must be", "Not a valid", "Longer than"):
        assert raw not in html, raw


def test_control_characters_in_a_sign_up_are_refused(shopper, shop_db):
    response = shopper.post("/account/signup", {"name": "Bo\x00", "email": "bo@example.com",
                                                  "password": "correct horse 1"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Remove the invisible control characters." in html and 'value="Bo"' in html
    shopper.signup("bo@example.com")
    shopper.post("/account/logout")
    damaged = shopper.post("/account/login", {"email": "bo@example.com",
                                              "password": "correct horse 1", "next": "/cart/\x00"})
    assert damaged.status_code == 400
    html = damaged.get_data(as_text=True)
    assert "The link that brought you here was damaged." in html
    assert 'name="next" value="/cart/"' in html, "logging in again goes where it meant to"


def test_login_redirect_never_leaves_the_site(shopper, shop_db):
    shopper.signup("cy@example.com")
    shopper.post("/account/logout")
    response = shopper.post("/account/login", {"email": "cy@example.com",
                                                "password": "correct horse 1",
                                                "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"
    shopper._csrf = None  # a sign-in starts a fresh session, with a new CSRF token
    shopper.post("/account/logout")
    response = shopper.post("/account/login", {"email": "cy@example.com",
                                                "password": "correct horse 1", "next": "/cart/"})
    assert response.headers["Location"] == "/cart/"


def test_cart_add_change_remove_with_stock_checks(shopper, shop_db):
    p = factories.product("Mug", price=1200, stock=3)
    assert shopper.add_to_cart(p.id, 2).status_code == 302
    html = shopper.client.get("/cart/").get_data(as_text=True)
    assert "Mug" in html and "$24.00" in html
    too_many = shopper.post_json("/cart/add", {"product_id": p.id, "quantity": 2})
    assert too_many.status_code == 409
    assert too_many.get_json()["error"] == "Only 3 of Mug left in stock."
    assert shopper.post("/cart/update", {"product_id": p.id, "quantity": 3}).status_code == 302
    over = shopper.post_json("/cart/update", {"product_id": p.id, "quantity": 4})
    assert over.status_code == 409 and over.get_json()["error"] == "Only 3 of Mug left in stock."
    bad = shopper.post_json("/cart/update", {"product_id": p.id, "quantity": "x"})
    assert bad.status_code == 400
    assert shopper.post("/cart/remove", {"product_id": p.id}).status_code == 302
    assert "Your cart is empty" in shopper.client.get("/cart/").get_data(as_text=True)
    assert shopper.add_to_cart(99999).status_code == 404


def test_add_to_cart_past_the_stock_goes_back_to_the_product_page_and_says_so(
        shopper, shop_db):
    grinder = factories.product("Burr Grinder", stock=2)
    page = f"/p/{grinder.slug}"
    response = shopper.add_to_cart(grinder.id, 5)
    assert response.status_code == 302 and response.headers["Location"] == page
    html = shopper.client.get(page).get_data(as_text=True)
    assert "Only 2 of Burr Grinder left in stock. Nothing was added." in html
    assert "That did not work" not in html
    assert shopper.add_to_cart(grinder.id, 2).headers["Location"] == "/cart/"
    response = shopper.add_to_cart(grinder.id, 1)
    assert response.headers["Location"] == page
    assert ("Only 2 of Burr Grinder left in stock. Your cart already has 2. Nothing was added."
            in shopper.client.get(page).get_data(as_text=True))
    for quantity, message in ((150, "Choose a quantity from 1 to 99."),
                              ("x", "Enter a whole number.")):
        response = shopper.post("/cart/add", {"product_id": grinder.id, "quantity": quantity})
        assert response.status_code == 302 and response.headers["Location"] == page
        assert message in shopper.client.get(page).get_data(as_text=True)
    assert 'name="quantity" value="2"' in shopper.client.get("/cart/").get_data(as_text=True)
    # The JSON API keeps its documented answers.
    over = shopper.post_json("/cart/add", {"product_id": grinder.id, "quantity": 1})
    assert over.status_code == 409
    assert shopper.post_json("/cart/add", {"product_id": grinder.id,
                                           "quantity": 150}).status_code == 400


def test_cart_update_past_the_stock_stays_on_the_cart_and_says_so(shopper, shop_db):
    grinder = factories.product("Burr Grinder", stock=2)
    shopper.add_to_cart(grinder.id, 1)
    response = shopper.post("/cart/update", {"product_id": grinder.id, "quantity": 5})
    assert response.status_code == 302 and response.headers["Location"] == "/cart/"
    html = shopper.client.get("/cart/").get_data(as_text=True)
    assert "Only 2 of Burr Grinder left in stock; your cart now has 2." in html
    assert f'id="q-{grinder.id}" type="number" name="quantity" value="2"' in html
    assert "Proceed to checkout" in html, "the cart as it now is can be bought"
    for quantity, message in ((150, "Choose a quantity from 0 to 99."),
                              ("x", "Enter a whole number.")):
        response = shopper.post("/cart/update", {"product_id": grinder.id, "quantity": quantity})
        assert response.status_code == 302 and response.headers["Location"] == "/cart/"
        html = shopper.client.get("/cart/").get_data(as_text=True)
        assert message in html and "Must be greater" not in html and "Not a valid" not in html
        assert 'name="quantity" value="2"' in html, "the line is left as it was"
    grinder = db.session.get(Product, grinder.id)
    grinder.stock = 0
    db.session.commit()
    shopper.post("/cart/update", {"product_id": grinder.id, "quantity": 2})
    html = shopper.client.get("/cart/").get_data(as_text=True)
    assert "Burr Grinder is out of stock; it is no longer in your cart." in html
    assert "Your cart is empty" in html
    gone = shopper.post("/cart/update", {"product_id": grinder.id, "quantity": 1})
    assert gone.headers["Location"] == "/cart/"
    assert "That product is not in your cart." in shopper.client.get("/cart/").get_data(
        as_text=True)


def test_cart_json_api(shopper, shop_db):
    p = factories.product("Mug", price=1200, stock=3)
    response = shopper.post_json("/cart/add", {"product_id": p.id, "quantity": 2})
    assert response.status_code == 200
    body = response.get_json()
    assert body["items"][0]["quantity"] == 2 and body["subtotal"] == 2400
    bad = shopper.post_json("/cart/add", {"product_id": "abc"})
    assert bad.status_code == 400 and "product_id" in bad.get_json()["errors"]


def test_cart_shows_shipping_threshold_and_delivery_date(shopper, app, shop_db):
    cheap = factories.product("Pen", price=1000, stock=10)
    shopper.add_to_cart(cheap.id, 1)
    html = shopper.client.get("/cart/").get_data(as_text=True)
    assert "$4.99" in html, "standard shipping under the threshold"
    assert "Add $15.00 more for free standard shipping." in html
    promised = shipping.estimated_delivery(shipping.METHODS["standard"], date.today())
    assert promised.strftime("%A %d %B") in html
    shopper.add_to_cart(cheap.id, 2)
    html = shopper.client.get("/cart/").get_data(as_text=True)
    assert "You get free standard shipping." in html and "$30.00" in html


def test_anonymous_cart_merges_into_the_customer_cart_on_login(shopper, new_shopper, shop_db):
    mug = factories.product("Mug", stock=10)
    pen = factories.product("Pen", stock=10)
    shopper.signup("dee@example.com")
    shopper.add_to_cart(mug.id, 1)
    shopper.post("/account/logout")

    phone = new_shopper()
    phone.add_to_cart(mug.id, 2)
    phone.add_to_cart(pen.id, 1)
    phone.login("dee@example.com")
    carts = db.session.scalars(select(Cart)).all()
    assert len(carts) == 1, "the anonymous cart was merged, not left behind"
    quantities = {i.product.title: i.quantity for i in carts[0].items}
    assert quantities == {"Mug": 3, "Pen": 1}

    laptop = new_shopper()
    laptop.login("dee@example.com")
    html = laptop.client.get("/cart/").get_data(as_text=True)
    assert 'value="3"' in html and "Pen" in html, "the signed-in cart follows the customer"


def test_forms_without_csrf_token_are_refused(client, shop_db):
    p = factories.product("Mug")
    response = client.post("/cart/add", data={"product_id": p.id})
    assert response.status_code == 400
    assert "session expired" in response.get_data(as_text=True)
