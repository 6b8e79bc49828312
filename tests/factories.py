"""Small builders for rows the tests need, written through the models."""

from __future__ import annotations

import itertools
from datetime import timedelta

from storefront.extensions import db
from storefront.models import Category, Product, utcnow

_seq = itertools.count(1)


def category(slug: str = "misc", name: str | None = None) -> Category:
    found = db.session.scalar(db.select(Category).where(Category.slug == slug))
    if found:
        return found
    cat = Category(slug=slug, name=name or slug.title(), description=f"All {slug}.")
    db.session.add(cat)
    db.session.flush()
    return cat


def product(title: str, *, price: int = 1000, stock: int = 10, cat: str = "misc",
            description: str = "", sold: int = 0, ratings: tuple[int, int] = (0, 0),
            age_days: int = 10, compare_at: int | None = None, featured: bool = False) -> Product:
    n = next(_seq)
    item = Product(
        slug=f"{title.lower().replace(' ', '-')}-{n}", sku=f"T-{n:05d}", title=title,
        description=description, category=category(cat), price=price, stock=stock,
        sold_count=sold, rating_count=ratings[0], rating_sum=ratings[1],
        created_at=utcnow() - timedelta(days=age_days), compare_at_price=compare_at,
        featured=featured, image="",
    )
    db.session.add(item)
    db.session.commit()
    return item
