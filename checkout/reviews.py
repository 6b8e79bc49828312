"""Reviews from buyers: after delivery, one per product of the order, with the verified badge."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storefront import catalog
from storefront.errors import DomainError
from storefront.extensions import db, journey
from storefront.models import Review

from .models import FulfilmentStatus, Order


class ReviewNotAllowed(DomainError):
    status_code = 409


def reviewable_product_ids(order: Order) -> set[int]:
    if order.fulfilment_status != FulfilmentStatus.DELIVERED:
        return set()
    done = set(db.session.scalars(select(Review.product_id).where(Review.order_id == order.id)))
    return {line.product_id for line in order.lines if line.product_id} - done


def submit_review(order: Order, product_id: int, rating: int, title: str, body: str) -> Review:
    if order.fulfilment_status != FulfilmentStatus.DELIVERED:
        raise ReviewNotAllowed("You can review once your order has been delivered.")
    if product_id not in {line.product_id for line in order.lines}:
        raise ReviewNotAllowed("That product is not in this order.")
    review = Review(
        product_id=product_id,
        customer_id=order.customer_id,
        order_id=order.id,
        author_name=order.ship_name.split(" ")[0] or "Customer",
        rating=rating,
        title=title,
        body=body,
        verified=True,
    )
    db.session.add(review)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ReviewNotAllowed("You have already reviewed this product for this order.") from None
    catalog.add_rating(product_id, rating)
    db.session.commit()
    journey.track("review_submitted", journey_id=order.journey_id, order_ref=order.id,
                  product_id=str(product_id), rating=rating)
    return review
