"""The cart service: one database cart per visitor, merged into the customer's at login."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import shipping
from .errors import NotFound, OutOfStock
from .extensions import db, journey
from .models import Cart, CartItem, Product, utcnow
from .money import Money

MAX_QUANTITY = 99


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _load(stmt) -> Cart | None:
    return db.session.scalar(
        stmt.options(selectinload(Cart.items).joinedload(CartItem.product).joinedload(Product.category))
    )


def find_cart(token: str | None, customer_id: int | None) -> Cart | None:
    if customer_id is not None:
        return _load(select(Cart).where(Cart.customer_id == customer_id))
    if token:
        return _load(select(Cart).where(Cart.token == token, Cart.customer_id.is_(None)))
    return None


def get_or_create_cart(token: str, customer_id: int | None) -> Cart:
    cart = find_cart(token, customer_id)
    if cart is not None:
        return cart
    cart = Cart(token=token if customer_id is None else new_token(), customer_id=customer_id)
    db.session.add(cart)
    try:
        db.session.commit()
    except IntegrityError:  # another request of the same visitor created it first
        db.session.rollback()
        cart = find_cart(token, customer_id)
        if cart is None:
            raise
    return cart


def find_product(product_id) -> Product | None:
    """The product with this id (any form a request gives it in), or None."""
    try:
        number = int(product_id)
    except (TypeError, ValueError):
        return None
    return db.session.get(Product, number) if 1 <= number < 2**31 else None


def _product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound("That product does not exist.")
    return product


def _check_stock(product: Product, quantity: int) -> None:
    if quantity > product.stock:
        if product.stock <= 0:
            raise OutOfStock(f"{product.title} is out of stock.")
        raise OutOfStock(f"Only {product.stock} of {product.title} left in stock.")


def _lock(cart: Cart) -> None:
    """Serialise edits of one cart (the same customer on two devices): a write to the cart
    row first takes its row lock on PostgreSQL and the write lock on SQLite, then the lines
    are read again, so an edit always starts from the one before it and none is lost."""
    db.session.execute(
        update(Cart).where(Cart.id == cart.id).values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.scalars(
        select(CartItem).where(CartItem.cart_id == cart.id)
        .execution_options(populate_existing=True)
    ).all()
    db.session.refresh(cart, ["items"])


def line_of(cart: Cart, product_id: int) -> CartItem | None:
    """The cart's line for that product, if it has one."""
    return next((i for i in cart.items if i.product_id == product_id), None)


def add_item(cart: Cart, product_id: int, quantity: int = 1) -> CartItem:
    product = _product(product_id)
    _lock(cart)
    item = line_of(cart, product_id)
    wanted = (item.quantity if item else 0) + quantity
    _check_stock(product, wanted)
    wanted = min(wanted, MAX_QUANTITY)
    added = wanted - (item.quantity if item else 0)
    if item is None:
        item = CartItem(product=product, quantity=wanted)
        cart.items.append(item)
    else:
        item.quantity = wanted
    db.session.commit()
    if added > 0:
        _track_change(product, added)
    return item


def _track_change(product: Product, delta: int) -> None:
    if delta > 0:
        journey.track("add_to_cart", product_id=str(product.id), quantity=delta,
                      value=product.price * delta, currency=product.currency)
    elif delta < 0:
        journey.track("remove_from_cart", product_id=str(product.id), quantity=-delta)


def set_quantity(
    cart: Cart, product_id: int, quantity: int, up_to_stock: bool = False
) -> CartItem | None:
    """Set a line's quantity (0 removes it). A quantity past the stock raises OutOfStock, or
    with ``up_to_stock`` is lowered to the stock (to 0, the line goes)."""
    _lock(cart)
    item = line_of(cart, product_id)
    if item is None:
        raise NotFound("That product is not in your cart.")
    before, product = item.quantity, item.product
    if up_to_stock:
        quantity = min(quantity, max(product.stock, 0))
    if quantity <= 0:
        cart.items.remove(item)
        db.session.commit()
        _track_change(product, -before)
        return None
    _check_stock(product, quantity)
    item.quantity = min(quantity, MAX_QUANTITY)
    db.session.commit()
    _track_change(product, item.quantity - before)
    return item


def remove_item(cart: Cart, product_id: int) -> None:
    set_quantity(cart, product_id, 0)


def clear(cart: Cart) -> None:
    _lock(cart)
    cart.items.clear()
    db.session.commit()


def merge_into_customer(token: str | None, customer_id: int) -> Cart:
    """At login: the anonymous cart's lines join the customer's cart (capped by stock)."""
    anonymous = find_cart(token, None) if token else None
    customer_cart = find_cart(None, customer_id)
    if customer_cart is None:
        if anonymous is not None:
            anonymous.customer_id = customer_id
            db.session.commit()
            return anonymous
        return get_or_create_cart(new_token(), customer_id)
    if anonymous is not None and anonymous.id != customer_cart.id:
        _lock(customer_cart)
        for item in list(anonymous.items):
            existing = next(
                (i for i in customer_cart.items if i.product_id == item.product_id), None
            )
            total = item.quantity + (existing.quantity if existing else 0)
            total = min(total, max(item.product.stock, 0), MAX_QUANTITY)
            if total <= 0:
                continue
            if existing:
                existing.quantity = total
            else:
                customer_cart.items.append(CartItem(product=item.product, quantity=total))
        db.session.delete(anonymous)
        db.session.commit()
    return customer_cart


@dataclass(frozen=True)
class CartSummary:
    item_count: int
    subtotal: Money
    shipping: Money
    total: Money
    method: shipping.ShippingMethod
    free_shipping_threshold: Money
    remaining_for_free_shipping: Money
    estimated_delivery: date
    stock_problems: list[str]


def summarize(
    cart: Cart | None, currency: str, free_threshold: int, method_code: str | None = None,
    today: date | None = None,
) -> CartSummary:
    items = cart.items if cart else []
    subtotal = Money(0, currency)
    for item in items:
        subtotal = subtotal + item.line_total
    method = shipping.METHODS.get(method_code or shipping.DEFAULT_METHOD) or shipping.METHODS[
        shipping.DEFAULT_METHOD
    ]
    cost = shipping.shipping_cost(method, subtotal, free_threshold) if items else Money(0, currency)
    remaining = max(free_threshold - subtotal.amount, 0)
    problems = [
        f"Only {i.product.stock} of {i.product.title} left in stock."
        if i.product.stock > 0
        else f"{i.product.title} is out of stock."
        for i in items
        if i.quantity > i.product.stock
    ]
    return CartSummary(
        item_count=sum(i.quantity for i in items),
        subtotal=subtotal,
        shipping=cost,
        total=subtotal + cost,
        method=method,
        free_shipping_threshold=Money(free_threshold, currency),
        remaining_for_free_shipping=Money(remaining, currency),
        estimated_delivery=shipping.estimated_delivery(method, today or date.today()),
        stock_problems=problems,
    )
