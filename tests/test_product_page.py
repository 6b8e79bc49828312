"""Product page: price, stock, rating histogram, verified reviews, recommendations."""

import re

from storefront import catalog
from storefront.extensions import db
from storefront.models import ProductPair, Review

from . import factories


def section(html: str, heading_id: str) -> str:
    match = re.search(rf'id="{heading_id}".*?</section>', html, re.S)
    return match.group(0) if match else ""


def test_product_page_shows_what_a_buyer_needs(client, shop_db):
    p = factories.product("Walnut Board", price=6499, stock=3, description="Oiled walnut.",
                          compare_at=7999)
    db.session.add_all([
        Review(product_id=p.id, author_name="Ann", rating=5, title="Great", body="Love it",
               verified=True),
        Review(product_id=p.id, author_name="Bob", rating=3, title="Fine", body="Okay",
               verified=False),
    ])
    p.rating_count, p.rating_sum = 2, 8
    db.session.commit()
    html = client.get(f"/p/{p.slug}").get_data(as_text=True)
    assert "$64.99" in html and "$79.99" in html and "Save 19%" in html
    assert "Only 3 left in stock" in html
    assert "Oiled walnut." in html
    assert f'alt="{p.title}"' in html
    assert "4.0 out of 5" in html
    assert 'aria-label="5 star: 50%"' in html and 'aria-label="3 star: 50%"' in html
    assert 'aria-label="4 star: 0%"' in html
    assert html.count("Verified buyer") == 1
    assert 'name="product_id"' in html and "Add to cart" in html


def test_out_of_stock_product_cannot_be_added(client, shop_db):
    p = factories.product("Gone", stock=0)
    html = client.get(f"/p/{p.slug}").get_data(as_text=True)
    assert "Out of stock" in html and "Add to cart" not in html


def test_unknown_product_is_a_404_page(client, catalog):
    response = client.get("/p/no-such-thing")
    assert response.status_code == 404
    assert "could not find" in response.get_data(as_text=True)


def test_recommendations_fall_back_to_the_same_category(client, shop_db):
    p = factories.product("Kettle", cat="coffee")
    sibling = factories.product("Grinder", cat="coffee")
    factories.product("Tent", cat="outdoor")
    html = client.get(f"/p/{p.slug}").get_data(as_text=True)
    assert sibling.slug in section(html, "fbt-h")
    assert sibling.slug in section(html, "cav-h")
    assert "tent" not in section(html, "fbt-h") + section(html, "cav-h")


def test_bought_together_comes_from_paid_orders(client, shop_db):
    p = factories.product("Skillet", cat="kitchen")
    partner = factories.product("Oven Mitts", cat="textiles")
    factories.product("Spatula", cat="kitchen")
    db.session.add(ProductPair(product_id=p.id, other_id=partner.id, orders=5))
    db.session.commit()
    fbt = section(client.get(f"/p/{p.slug}").get_data(as_text=True), "fbt-h")
    assert fbt.index(partner.slug) < fbt.index("spatula"), "real co-purchases come first"


def test_also_viewed_comes_from_real_views(app, client, new_shopper, shop_db):
    p = factories.product("Headphones", cat="audio")
    other = factories.product("Novel", cat="books")
    unrelated = factories.product("Atlas", cat="books")
    for _ in range(2):  # two other visitors viewed both products
        visitor = new_shopper().client
        visitor.get(f"/p/{p.slug}")
        visitor.get(f"/p/{other.slug}")
    new_shopper().client.get(f"/p/{unrelated.slug}")  # viewed, but by nobody who saw p
    app.extensions["journey"].writer.flush()
    cav = section(client.get(f"/p/{p.slug}").get_data(as_text=True), "cav-h")
    assert other.slug in cav
    assert unrelated.slug not in cav, "books fill in only after real co-views"


def test_also_viewed_is_cached_per_product(app, client, new_shopper, shop_db):
    p = factories.product("Headphones", cat="audio")
    other = factories.product("Novel", cat="books")
    app.extensions["storefront.also_viewed"] = catalog.ProductCache(300)
    assert other.slug not in section(client.get(f"/p/{p.slug}").get_data(as_text=True),
                                     "cav-h")
    visitor = new_shopper().client
    visitor.get(f"/p/{p.slug}")
    visitor.get(f"/p/{other.slug}")
    app.extensions["journey"].writer.flush()
    cached = section(client.get(f"/p/{p.slug}").get_data(as_text=True), "cav-h")
    assert other.slug not in cached, "within the cache time the first answer stands"
    app.extensions["storefront.also_viewed"] = catalog.ProductCache(0)
    assert other.slug in section(client.get(f"/p/{p.slug}").get_data(as_text=True), "cav-h")
