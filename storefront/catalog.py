"""Catalog queries: landing page, search, category listings, recommendations."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cachetools import TTLCache
from flask import current_app
from sqlalchemy import Select, String, and_, case, desc, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from .extensions import db, journey
from .models import Category, Product, ProductPair, Review

SORTS = ("relevance", "popular", "price_asc", "price_desc", "rating", "newest")
# Relevance means a text match: it is the default for a search with words, and "popular"
# (units sold, then rating) is the default where there are none (category pages, all products).
SORT_LABELS = {
    "relevance": "Relevance", "popular": "Most popular", "price_asc": "Price: low to high",
    "price_desc": "Price: high to low", "rating": "Customer rating", "newest": "Newest",
}
MAX_TERMS = 8


@dataclass
class ListingQuery:
    q: str = ""
    category: str | None = None
    min_price: int | None = None  # minor units
    max_price: int | None = None
    in_stock: bool = False
    sort: str | None = None  # None: relevance for a search with words, else popular
    page: int = 1
    terms: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.terms = [t for t in self.q.lower().split() if t][:MAX_TERMS]
        if self.sort is None:
            self.sort = default_sort(self.terms)


def default_sort(terms) -> str:
    return "relevance" if terms else "popular"


# Words are split at spaces and at these characters (both in the text and in a search term),
# so "pour-over" holds the words "pour" and "over" and "KIT-0001" the words "kit" and "0001".
SEPARATORS = "-/()[],.;:!?&+'\"*#|\n\r\t"
SHORT_TERM = 3  # shorter terms ("a", "in") match titles, categories and SKUs, not descriptions


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(term: str) -> str:
    return f"%{_escape(term)}%"


def _words_of(column):
    """' word word ... ' in lower case: a word starts after a space and ends before one."""
    expr = func.lower(column, type_=String)
    for char in SEPARATORS:
        expr = func.replace(expr, char, " ", type_=String)
    return literal(" ", String) + expr + literal(" ", String)


def _normal_term(term: str) -> str:
    for char in SEPARATORS:
        term = term.replace(char, " ")
    return " ".join(term.split())


@dataclass(frozen=True)
class _Match:
    """How one search term matches a column: as a whole word, or as the start of a word.

    A term with no letter or digit ("%", "-") has no word to start: it matches anywhere, as typed.
    """

    whole: object
    prefix: object


def _match(column, term: str) -> _Match:
    words = _normal_term(term)
    if not any(char.isalnum() for char in words):
        anywhere = column.ilike(_like(term), escape="\\")
        return _Match(anywhere, anywhere)
    text = _words_of(column)
    return _Match(text.like(f"% {_escape(words)} %", escape="\\"),
                  text.like(f"% {_escape(words)}%", escape="\\"))


def _fields(term: str):
    """(column, weight) to look for a term in: title, then category and SKU, then description."""
    fields = [(Product.title, 6.0), (Category.name, 3.0), (Product.sku, 3.0)]
    if len(term) >= SHORT_TERM or not any(char.isalnum() for char in term):
        fields.append((Product.description, 1.0))
    return fields


def _rating_expr():
    return case(
        (Product.rating_count > 0, Product.rating_sum * 1.0 / Product.rating_count),
        else_=0.0,
    )


def _text_score(terms: list[str]):
    """Weighted text match: a whole word counts in full, the start of a longer word half."""
    score = literal(0.0)
    for term in terms:
        for column, weight in _fields(term):
            m = _match(column, term)
            score = score + case((m.whole, weight), (m.prefix, weight / 2), else_=0.0)
    return score


def relevance_expr(terms: list[str]):
    """Text match first, then popularity (units sold) and rating break ties and lift favourites.

    The popularity term saturates (x / (x + 50)) so a best-seller cannot outrank a better
    text match; rating adds up to one title-word's worth for a 5-star product.
    """
    popularity = Product.sold_count * 1.0 / (Product.sold_count + 50.0)
    rating_boost = _rating_expr() / 5.0
    if not terms:
        return 2.0 * popularity + rating_boost
    return _text_score(terms) * (1.0 + 0.5 * popularity + 0.3 * rating_boost)


def listing_statement(query: ListingQuery) -> Select:
    stmt = (
        select(Product)
        .join(Product.category)
        .options(contains_eager(Product.category))
    )
    if query.terms:
        # A term matches the words it starts (kit: Kit, Kite; not Skittle).
        stmt = stmt.where(or_(*(
            _match(column, term).prefix for term in query.terms for column, _ in _fields(term)
        )))
    if query.category:
        stmt = stmt.where(Category.slug == query.category)
    if query.min_price is not None:
        stmt = stmt.where(Product.price >= query.min_price)
    if query.max_price is not None:
        stmt = stmt.where(Product.price <= query.max_price)
    if query.in_stock:
        stmt = stmt.where(Product.stock > 0)

    order = {
        "price_asc": [Product.price.asc()],
        "price_desc": [Product.price.desc()],
        "rating": [desc(_rating_expr()), Product.rating_count.desc()],
        "newest": [Product.created_at.desc()],
        "popular": [Product.sold_count.desc(), desc(_rating_expr()), Product.rating_count.desc()],
    }.get(query.sort, [desc(relevance_expr(query.terms))])
    return stmt.order_by(*order, Product.id)


def search(query: ListingQuery, per_page: int):
    """One page of products for the query; two SQL statements whatever the page size."""
    return db.paginate(
        listing_statement(query), page=query.page, per_page=per_page, error_out=False,
        max_per_page=100,
    )


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.position, Category.name)))


def category_by_slug(slug: str) -> Category | None:
    return db.session.scalar(select(Category).where(Category.slug == slug))


def _with_category(stmt: Select) -> Select:
    return stmt.options(joinedload(Product.category))


def featured(limit: int = 8) -> list[Product]:
    stmt = (
        select(Product)
        .where(Product.featured.is_(True))
        .order_by(Product.sold_count.desc(), Product.id)
        .limit(limit)
    )
    return list(db.session.scalars(_with_category(stmt)))


def deals(limit: int = 8) -> list[Product]:
    stmt = (
        select(Product)
        .where(Product.compare_at_price > Product.price, Product.stock > 0)
        .order_by(((Product.compare_at_price - Product.price) * 1.0 / Product.compare_at_price)
                  .desc())
        .limit(limit)
    )
    return list(db.session.scalars(_with_category(stmt)))


def product_by_slug(slug: str) -> Product | None:
    return db.session.scalar(_with_category(select(Product).where(Product.slug == slug)))


def rating_histogram(product: Product) -> dict[int, int]:
    rows = db.session.execute(
        select(Review.rating, func.count())
        .where(Review.product_id == product.id)
        .group_by(Review.rating)
    )
    counts = {star: 0 for star in range(5, 0, -1)}
    for rating, count in rows:
        counts[rating] = count
    return counts


def reviews_for(product: Product, limit: int = 20) -> list[Review]:
    stmt = (
        select(Review)
        .where(Review.product_id == product.id)
        .order_by(Review.verified.desc(), Review.created_at.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def _fill_from_category(product: Product, chosen: list[Product], limit: int) -> list[Product]:
    if len(chosen) >= limit:
        return chosen[:limit]
    exclude = [product.id, *(p.id for p in chosen)]
    stmt = (
        select(Product)
        .where(Product.category_id == product.category_id, Product.id.not_in(exclude))
        .order_by(Product.sold_count.desc(), Product.id)
        .limit(limit - len(chosen))
    )
    return chosen + list(db.session.scalars(_with_category(stmt)))


def bought_together(product: Product, limit: int = 4) -> list[Product]:
    """Products most often in the same paid order; the same category when there is no history."""
    stmt = (
        select(Product)
        .join(ProductPair, ProductPair.other_id == Product.id)
        .where(ProductPair.product_id == product.id, ProductPair.orders > 0)
        .order_by(ProductPair.orders.desc(), Product.id)
        .limit(limit)
    )
    return _fill_from_category(product, list(db.session.scalars(_with_category(stmt))), limit)


CO_VIEW_DAYS = 90
CO_VIEW_VISITORS = 500  # bound the self-join to the most recent viewers


def also_viewed(product: Product, limit: int = 4) -> list[Product]:
    """Products viewed by the visitors who viewed this one (last 90 days, latest 500
    viewers), from the journey tracker's product_view events; the same category when there
    is no history. The ids are cached per product for ALSO_VIEWED_CACHE_SECONDS."""
    cache = current_app.extensions["storefront.also_viewed"]
    ids = cache.get(product.id)
    if ids is not None:
        return _products_in_order(ids)
    chosen = [int(pid) for pid in journey.co_viewed(
        product.id, limit=limit, days=CO_VIEW_DAYS, viewers=CO_VIEW_VISITORS)
        if pid.isdigit()]
    products = _fill_from_category(product, _products_in_order(chosen), limit)
    cache.set(product.id, [p.id for p in products])
    return products


def _products_in_order(ids: list[int]) -> list[Product]:
    """These products (with their category), in this order; ids no longer there are left
    out."""
    if not ids:
        return []
    by_id = {p.id: p for p in db.session.scalars(
        _with_category(select(Product).where(Product.id.in_(ids))))}
    return [by_id[i] for i in ids if i in by_id]


class ProductCache:
    """A bounded per-app cache of small values per product, for ``seconds`` (0: off)."""

    def __init__(self, seconds: int, maxsize: int = 1024):
        self._cache = TTLCache(maxsize=maxsize, ttl=seconds) if seconds > 0 else None
        self._lock = threading.Lock()  # cachetools caches are not thread-safe

    def get(self, key):
        if self._cache is None:
            return None
        with self._lock:
            return self._cache.get(key)

    def set(self, key, value) -> None:
        if self._cache is not None:
            with self._lock:
                self._cache[key] = value


def record_sale(quantities: dict[int, int]) -> None:
    """Called when an order is paid: units sold and bought-together pairs. Caller commits."""
    for product_id, quantity in quantities.items():
        db.session.execute(
            Product.__table__.update()
            .where(Product.id == product_id)
            .values(sold_count=Product.sold_count + quantity)
        )
    ids = sorted(quantities)
    for a in ids:
        for b in ids:
            if a == b:
                continue
            _increment_pair(a, b)


def _increment_pair(a: int, b: int) -> None:
    bump = (
        ProductPair.__table__.update()
        .where(and_(ProductPair.product_id == a, ProductPair.other_id == b))
        .values(orders=ProductPair.orders + 1)
    )
    if db.session.execute(bump).rowcount:
        return
    try:
        with db.session.begin_nested():  # a concurrent order may insert the same pair first
            db.session.add(ProductPair(product_id=a, other_id=b, orders=1))
    except IntegrityError:
        db.session.execute(bump)


def add_rating(product_id: int, rating: int) -> None:
    """Keep the product's rating aggregate in step with a new review. Caller commits."""
    db.session.execute(
        Product.__table__.update()
        .where(Product.id == product_id)
        .values(rating_count=Product.rating_count + 1, rating_sum=Product.rating_sum + rating)
    )
