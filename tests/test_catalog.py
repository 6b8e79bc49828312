"""Seeded catalog, landing page, search relevance, sorts, filters, pagination, query counts."""

import re
from pathlib import Path

import pytest
from sqlalchemy import DateTime, event, func, select

from checkout.models import Order
from checkout.seed import STEPS
from storefront.catalog_data import REVIEW_TEXTS
from storefront.extensions import db
from storefront.models import Category, Product, Review, utcnow

from . import factories

STATIC = Path(__file__).resolve().parent.parent / "storefront" / "static"


def product_links(html: str) -> list[str]:
    return re.findall(r'<a href="/p/([^"]+)" class="card-link">', html)


def test_seed_makes_a_realistic_store(seeded, shop_db):
    products = shop_db.session.scalars(select(Product)).all()
    assert len(products) >= 40
    assert shop_db.session.scalar(select(func.count()).select_from(Category)) >= 6
    for p in products:
        assert p.price > 0 and p.currency == "USD" and p.sku and p.description
        assert (STATIC / "img" / "products" / p.image).is_file(), p.image
    reviews = shop_db.session.scalars(select(Review)).all()
    assert len(reviews) > 20
    assert all(r.verified and r.order_id for r in reviews), "seeded reviews come from past buyers"
    # The denormalised rating equals the reviews'.
    for p in products:
        rs = [r.rating for r in reviews if r.product_id == p.id]
        assert (p.rating_count, p.rating_sum) == (len(rs), sum(rs))


def test_seeded_history_is_all_in_the_past_and_in_order(app, shop_db):
    # The demo's full history: recent orders are the ones whose reviews could overrun today.
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    now = utcnow()
    for table in shop_db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, DateTime):
                latest = shop_db.session.scalar(select(func.max(column)))
                assert latest is None or latest <= now, f"{column} is in the future: {latest}"
    reviews = shop_db.session.scalars(select(Review)).all()
    assert reviews
    for review in reviews:
        order = shop_db.session.get(Order, review.order_id)
        steps = [e.at for e in sorted(order.history, key=lambda e: e.at)]
        assert [e.to_status for e in sorted(order.history, key=lambda e: e.at)] == list(STEPS)
        times = [order.created_at, order.paid_at, *steps, review.created_at]
        assert times == sorted(times) and len(set(times)) == len(times), order.number
        assert order.delivered_at == steps[-1]
    # Numbered as a shop numbers them: a later order has a later number
    placed = shop_db.session.scalars(select(Order.created_at).order_by(Order.id)).all()
    assert len(placed) > 100 and placed == sorted(placed)
    # No product carries the same review twice while its rating has other words
    said = [(r.product_id, r.rating, r.title) for r in reviews]
    for product_id, rating, title in set(said):
        others = {t for p, g, t in said if p == product_id and g == rating}
        if len(others) < len(REVIEW_TEXTS[rating]):
            assert said.count((product_id, rating, title)) == 1, (product_id, title)


def test_seed_refuses_a_non_empty_catalog(seeded, app):
    before = db.session.scalar(select(func.count()).select_from(Product))
    result = app.test_cli_runner().invoke(args=["seed"])
    assert "nothing seeded" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Product)) == before


def test_landing_page_has_featured_deals_and_categories(client, catalog, shop_db):
    html = client.get("/").get_data(as_text=True)
    for cat in shop_db.session.scalars(select(Category)):
        assert f'href="/c/{cat.slug}"' in html
    assert "Today&#39;s deals" in html or "Today's deals" in html
    deal = shop_db.session.scalar(
        select(Product).where(Product.compare_at_price > Product.price, Product.stock > 0)
    )
    assert f"/p/{deal.slug}" in html
    featured = shop_db.session.scalar(select(Product).where(Product.featured.is_(True)))
    assert f"/p/{featured.slug}" in html


def test_search_weighs_text_match_then_popularity_and_rating(client, shop_db):
    factories.product("Plain Mug", description="A mug.", sold=0)
    factories.product("Travel Mug", description="Insulated mug.", sold=400, ratings=(10, 48))
    factories.product("Teapot", description="Pairs well with a mug.", sold=900)
    factories.product("Lamp", description="No match here.")
    html = client.get("/search?q=mug").get_data(as_text=True)
    slugs = product_links(html)
    assert len(slugs) == 3, "only products that match the text are results"
    # Title matches beat a description-only match, however popular;
    # among title matches the popular, well-rated one comes first.
    assert slugs[0].startswith("travel-mug")
    assert slugs[1].startswith("plain-mug")
    assert slugs[2].startswith("teapot")


def test_search_results_link_straight_to_product_pages(client, catalog):
    html = client.get("/search?q=skillet").get_data(as_text=True)
    assert product_links(html)[0] == "cast-iron-skillet-10-in"
    assert client.get("/p/cast-iron-skillet-10-in").status_code == 200


def test_search_escapes_like_wildcards(client, shop_db):
    factories.product("Fifty Percent Off Sign", description="Says 50% off.")
    factories.product("Other")
    assert len(product_links(client.get("/search?q=%25").get_data(as_text=True))) == 1


@pytest.mark.parametrize(
    ("sort", "key", "reverse"),
    [("price_asc", "price", False), ("price_desc", "price", True),
     ("rating", "rating", True), ("newest", "created_at", True)],
)
def test_sorts(client, shop_db, sort, key, reverse):
    made = [
        factories.product("Alpha", price=500, ratings=(2, 6), age_days=30),
        factories.product("Beta", price=1500, ratings=(4, 20), age_days=1),
        factories.product("Gamma", price=900, ratings=(1, 4), age_days=12),
    ]
    html = client.get(f"/search?sort={sort}").get_data(as_text=True)
    expected = [p.slug for p in sorted(made, key=lambda p: getattr(p, key), reverse=reverse)]
    assert product_links(html) == expected


def test_filters_category_price_range_and_stock(client, shop_db):
    factories.product("Cheap Pan", price=900, cat="kitchen")
    factories.product("Mid Pan", price=2500, cat="kitchen")
    factories.product("Sold Out Pan", price=2600, cat="kitchen", stock=0)
    factories.product("Mid Tent", price=2500, cat="outdoor")
    html = client.get(
        "/search?category=kitchen&min_price=10&max_price=30&in_stock=1"
    ).get_data(as_text=True)
    assert [s.split("-pan")[0] for s in product_links(html)] == ["mid"]
    # Category pages share the same sort and filters.
    html = client.get("/c/kitchen?sort=price_desc&in_stock=1").get_data(as_text=True)
    assert [s.split("-pan")[0] for s in product_links(html)] == ["mid", "cheap"]


@pytest.mark.parametrize("amount", ["1e999990", "1e999999999", "1e400", "-5",
                                    "99999999999999999999999", "21474836.48", "5" * 5000])
def test_an_amount_no_price_can_be_is_a_clear_error_not_work(client, catalog, amount):
    """An exponent would have Decimal build a million-digit number (half a minute of CPU), and
    a number past the price column's range is an error from the database (a 500)."""
    response = client.get(f"/search?min_price={amount}")
    assert response.status_code == 400
    assert "Enter an amount like 25 or 19.99." in response.get_data(as_text=True)


def test_bad_filters_get_a_clear_error_page(client, catalog):
    response = client.get("/search?q=mug&min_price=cheap")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Enter an amount like 25 or 19.99." in html
    assert 'value="cheap"' in html, "what the shopper typed is kept"
    response = client.get("/search?min_price=30&max_price=10")
    assert response.status_code == 400
    assert "minimum price is above the maximum" in response.get_data(as_text=True)
    for url, message in (("/search?sort=cheapest", "Choose a sort order from the list."),
                         ("/search?page=two", "A page is a number, like 2."),
                         ("/search?page=0", "Pages go from 1 to 10000.")):
        response = client.get(url)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert client.get("/c/no-such-category").status_code == 404


def test_a_search_longer_than_200_characters_searches_its_first_200(client, shop_db):
    factories.product("Stoneware Mug")
    factories.product("Gooseneck Kettle")
    query = "mug " + "z" * 196 + " kettle"  # "kettle" starts at character 201
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"Results for “{query[:200]}”" in html
    assert "Stoneware Mug" in html and "Gooseneck Kettle" not in html
    assert "Longer than" not in html and "Please correct the filters" not in html


@pytest.mark.parametrize("url", ["/search?q=mug%00", "/search?q=mu%01g&sort=newest",
                                 "/search?category=kitchen%00", "/c/kitchen?min_price=1%00"])
def test_control_characters_in_a_search_are_a_clear_error(client, catalog, url):
    response = client.get(url)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Remove the invisible control characters." in html
    assert "\x00" not in html and "\x01" not in html, "never echoed into the page"


@pytest.mark.parametrize("url", ["/p/mug%00", "/c/kitchen%00"])
def test_control_characters_in_a_page_address_are_not_found(client, catalog, url):
    assert client.get(url).status_code == 404


def test_pagination(client, app, catalog):
    per_page = app.config["PAGE_SIZE"]
    first = product_links(client.get("/search").get_data(as_text=True))
    second = product_links(client.get("/search?page=2").get_data(as_text=True))
    assert len(first) == per_page and second and not set(first) & set(second)
    html = client.get("/search").get_data(as_text=True)
    assert 'rel="next"' in html and "Page 1 of 4" in html

def test_a_page_past_the_last_goes_to_the_last(client, app, catalog):
    last = client.get("/search?q=&sort=price_asc&page=999")
    assert last.status_code == 302
    assert last.headers["Location"] == "/search?q=&sort=price_asc&page=4"
    html = client.get(last.headers["Location"]).get_data(as_text=True)
    assert "Page 4 of 4" in html and product_links(html)
    assert client.get("/search?page=5").headers["Location"] == "/search?page=4"
    assert client.get("/search?page=4").status_code == 200
    nothing = client.get("/search?q=no-such-thing&page=3")
    assert nothing.headers["Location"] == "/search?q=no-such-thing&page=1"
    category = client.get("/c/kitchen?sort=newest&page=7&slug=toys")  # the path names it
    assert category.status_code == 302
    assert category.headers["Location"] == "/c/kitchen?sort=newest&page=1&slug=toys"


class QueryCounter:
    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hit)

    def _hit(self, *args):
        self.count += 1


@pytest.mark.parametrize(
    "url", ["/", "/search?q=a", "/search", "/c/kitchen", "/search?sort=rating"]
)
def test_listing_pages_make_no_n_plus_one_queries(app, client, shop_db, url):
    for n in range(3):
        factories.product(f"Kitchen thing {n}", cat="kitchen", featured=True,
                          compare_at=5000, description="a")
    client.get(url)  # warm up (session, first-request work)
    with app.app_context():  # the app's engine: the one its requests use
        engine = db.engine
    with QueryCounter(engine) as few:
        assert client.get(url).status_code == 200
    for n in range(30):
        factories.product(f"Kitchen gadget {n}", cat="kitchen", featured=True,
                          compare_at=5000, description="a")
    with QueryCounter(engine) as many:
        assert client.get(url).status_code == 200
    assert few.count > 0, "the counter sees the page's queries"
    assert many.count == few.count, f"{url}: {few.count} queries (3 products), {many.count} (33)"


def test_category_pages_default_to_most_popular_and_searches_to_relevance(client, shop_db):
    """Relevance is a text match: without words (a category page) it meant nothing."""
    factories.product("Quiet Kettle", cat="kitchen", sold=5, description="A kettle.")
    factories.product("Best Seller Pan", cat="kitchen", sold=300)
    factories.product("Good Pan", cat="kitchen", sold=40, ratings=(3, 15))
    html = client.get("/c/kitchen").get_data(as_text=True)
    assert [s.rsplit("-", 1)[0] for s in product_links(html)] == [
        "best-seller-pan", "good-pan", "quiet-kettle"]
    assert '<option value="popular" selected>Most popular</option>' in html
    assert 'value="relevance"' not in html, "no Relevance choice where nothing is searched"
    # A search with words is still ranked, and offered, by relevance.
    html = client.get("/search?q=kettle").get_data(as_text=True)
    assert '<option value="relevance" selected>Relevance</option>' in html
    assert product_links(html)[0].startswith("quiet-kettle")
    # An old link asking a category page for relevance still works.
    html = client.get("/c/kitchen?sort=relevance").get_data(as_text=True)
    assert '<option value="relevance" selected>Relevance</option>' in html
    assert len(product_links(html)) == 3


def test_search_matches_the_start_of_words_and_ranks_whole_words_first(client, shop_db):
    factories.product("Rainbow Delta Kite", cat="toys", description="Flies in light wind.")
    factories.product("Pour-Over Starter Kit", cat="coffee", description="Everything to begin.")
    factories.product("Skittles Set", cat="toys", description="A tabletop game.")
    factories.product("Tool Roll", cat="outdoor", description="Holds a repair kit and more.")
    factories.product("Tool Box", cat="outdoor", description="Holds tools.\nGrinder\tincluded")
    # A word after a line break or a tab starts a word, as after a space.
    assert product_links(client.get("/search?q=grinder").get_data(as_text=True))[0].startswith(
        "tool-box")
    slugs = product_links(client.get("/search?q=KIT").get_data(as_text=True))
    # A whole word in the title, then the start of one (Kite), then a description's word;
    # never the middle of a word (sKITtles).
    assert [s.rsplit("-", 1)[0] for s in slugs] == [
        "pour-over-starter-kit", "rainbow-delta-kite", "tool-roll"]
    # Words split at hyphens: "over" starts a word of "Pour-Over".
    assert product_links(client.get("/search?q=over").get_data(as_text=True))[0].startswith(
        "pour-over")
    # A letter or two is looked for at the start of title, category and SKU words, not in
    # every description's "a" or "an".
    slugs = product_links(client.get("/search?q=a").get_data(as_text=True))
    assert slugs == [], slugs
    assert product_links(client.get("/search?q=ti").get_data(as_text=True)) == []
    assert len(product_links(client.get("/search?q=sk").get_data(as_text=True))) == 1


def test_searching_one_letter_does_not_match_the_whole_seeded_store(client, catalog):
    html = client.get("/search?q=a").get_data(as_text=True)
    total = int(re.search(r"(\d+) products?</p>", html).group(1))
    assert 0 < total < 20, total


def test_filters_fold_into_filter_and_sort_open_when_they_need_correcting(client, catalog):
    html = client.get("/c/kitchen").get_data(as_text=True)
    assert '<details class="filters-box">' in html
    assert "<summary>Filter &amp; sort</summary>" in html
    html = client.get("/c/kitchen?in_stock=1&min_price=5").get_data(as_text=True)
    assert '<summary>Filter &amp; sort <span class="applied">(2 applied)</span></summary>' in html
    html = client.get("/c/kitchen?min_price=cheap").get_data(as_text=True)
    assert '<details class="filters-box" open>' in html, "an error to correct is shown"
