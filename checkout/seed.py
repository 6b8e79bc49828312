"""flask --app wsgi seed: a realistic demo store with a past of orders, views and reviews."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from storefront import catalog, shipping
from storefront import catalog_data as data
from storefront.extensions import db
from storefront.models import (
    UNUSABLE_PASSWORD,
    Category,
    Customer,
    Product,
    Review,
    utcnow,
)
from tracking.config import missing_table

from .models import (
    FulfilmentEvent,
    FulfilmentStatus,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
)

STEPS = (
    FulfilmentStatus.PACKED,
    FulfilmentStatus.SHIPPED,
    FulfilmentStatus.OUT_FOR_DELIVERY,
    FulfilmentStatus.DELIVERED,
)


def _after(at: datetime, gap: timedelta, longest: timedelta, now: datetime) -> datetime:
    """``at + gap`` (``gap`` drawn up to ``longest``), shrunk alike to end by ``now``.

    Shrinking rather than clipping keeps each step strictly after the one before.
    """
    room = now - at
    if room >= longest:
        return at + gap
    return at + gap * (max(room, timedelta(0)) / longest)


def seed_catalog(now) -> dict[str, Product]:
    categories = {}
    for position, row in enumerate(data.CATEGORIES):
        category = Category(
            slug=row["slug"], name=row["name"], description=row["description"], position=position
        )
        db.session.add(category)
        categories[row["slug"]] = category
    products = {}
    for row in data.PRODUCTS:
        product = Product(
            slug=row["slug"], sku=row["sku"], title=row["title"],
            description=row["description"], category=categories[row["category"]],
            price=row["price"], compare_at_price=row["compare_at_price"], currency="USD",
            stock=row["stock"], image=row["image"], featured=row["featured"],
            created_at=now - timedelta(days=row["created_days_ago"]),
        )
        db.session.add(product)
        products[row["slug"]] = product
    db.session.flush()
    return products


def seed_history(products: dict[str, Product], rng: random.Random, now, orders: int) -> int:
    """Past buyers, delivered orders and their verified reviews, none later than ``now``;
    returns reviews written."""
    rows = {row["slug"]: row for row in data.PRODUCTS}
    slugs = list(products)
    weights = [rows[s]["popularity"] + 1 for s in slugs]
    partners: dict[str, list[str]] = {}
    for a, b in data.BOUGHT_TOGETHER:
        partners.setdefault(a, []).append(b)
        partners.setdefault(b, []).append(a)

    customers = []
    for first in data.FIRST_NAMES:
        last = rng.choice(data.LAST_NAMES)
        customer = Customer(email=f"{first}.{last}.{len(customers)}@example.com".lower(),
                            name=f"{first} {last}")
        customer.password_hash = UNUSABLE_PASSWORD
        db.session.add(customer)
        customers.append(customer)
    db.session.flush()

    written = 0
    reviewed: set[tuple[int, int]] = set()
    said: set[tuple[int, str]] = set()  # (product, review title) written
    # Placed oldest first, so order numbers grow with time as a shop's do (a list newest
    # first by number is newest first by date).
    placed_at = sorted(now - timedelta(days=rng.uniform(8, 180), minutes=rng.uniform(0, 1440))
                       for _ in range(orders))
    for placed in placed_at:
        customer = rng.choice(customers)
        first = rng.choices(slugs, weights)[0]
        basket = {first: rng.choice([1, 1, 1, 2])}
        if first in partners and rng.random() < 0.6:
            basket[rng.choice(partners[first])] = 1
        if rng.random() < 0.25:
            basket[rng.choices(slugs, weights)[0]] = 1
        method = shipping.METHODS[rng.choice(["standard", "standard", "express"])]
        lines = [
            OrderLine(product_id=products[s].id, sku=products[s].sku, name=products[s].title,
                      unit_price=products[s].price, quantity=q)
            for s, q in basket.items()
        ]
        subtotal = sum(line.total for line in lines)
        cost = 0 if method.free_over_threshold and subtotal >= 2500 else method.price
        first_name, _, last_name = customer.name.partition(" ")
        order = Order(
            customer_id=customer.id, email=customer.email, status=OrderStatus.PAID,
            payment_status=PaymentStatus.PAID, fulfilment_status=FulfilmentStatus.DELIVERED,
            ship_name=customer.name, ship_line1=f"{rng.randint(1, 999)} Market Street",
            ship_city=rng.choice(["Springfield", "Riverton", "Fairview", "Madison"]),
            ship_postcode=f"{rng.randint(10000, 99999)}", ship_country="US",
            shipping_method=method.code, currency="USD", subtotal=subtotal,
            shipping_cost=cost, total=subtotal + cost,
            estimated_delivery=shipping.estimated_delivery(method, placed.date()),
            created_at=placed, lines=lines,
            paid_at=_after(placed, timedelta(minutes=1), timedelta(minutes=1), now),
        )
        at = order.paid_at
        previous = FulfilmentStatus.UNFULFILLED
        for step in STEPS:
            at = _after(at, timedelta(hours=rng.uniform(6, 40)), timedelta(hours=40), now)
            order.history.append(FulfilmentEvent(from_status=previous, to_status=step,
                                                 actor="seed", at=at))
            previous = step
        order.delivered_at = at
        db.session.add(order)
        db.session.flush()
        catalog.record_sale({products[s].id: q for s, q in basket.items()})

        for slug in basket:
            product = products[slug]
            if (customer.id, product.id) in reviewed or rng.random() > 0.55:
                continue
            reviewed.add((customer.id, product.id))
            rating = round(min(5, max(1, rng.gauss(rows[slug]["quality"], 0.9))))
            # The same words twice on one product read as a copy: another of the rating's
            # texts while any is left
            texts = data.REVIEW_TEXTS[rating]
            fresh = [t for t in texts if (product.id, t[0]) not in said] or texts
            title, body = rng.choice(fresh)
            said.add((product.id, title))
            db.session.add(Review(
                product_id=product.id, customer_id=customer.id, order_id=order.id,
                author_name=first_name or last_name, rating=rating, title=title, body=body,
                verified=True,
                created_at=_after(at, timedelta(days=rng.uniform(1, 10)), timedelta(days=10), now),
            ))
            catalog.add_rating(product.id, rating)
            written += 1
    return written


@click.command("seed")
@with_appcontext
@click.option("--orders", default=320, show_default=True, type=click.IntRange(0, 100_000),
              help="Past orders to create.")
@click.option("--random-seed", default=42, show_default=True)
def seed_command(orders: int, random_seed: int) -> None:
    """Fill an empty database with the demo catalog and its history."""
    try:
        seeded = db.session.scalar(select(func.count()).select_from(Product))
    except (OperationalError, ProgrammingError) as exc:
        if missing_table(exc):
            raise click.ClickException(
                "The store's tables are not in this database: run `flask --app wsgi db "
                "upgrade` first.") from None
        raise click.ClickException(
            f"The database cannot be read ({type(exc.orig or exc).__name__}): check "
            "DATABASE_URL and that the server answers.") from None
    if seeded:
        click.echo("The catalog is not empty; nothing seeded.")
        return
    rng = random.Random(random_seed)
    now = utcnow()
    products = seed_catalog(now)
    written = seed_history(products, rng, now, orders)
    db.session.commit()
    click.echo(
        f"Seeded {len(data.CATEGORIES)} categories, {len(products)} products, "
        f"{orders} past orders and {written} reviews."
    )
