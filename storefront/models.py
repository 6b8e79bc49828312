"""Catalog, customers, carts, reviews and the browsing/sales statistics the catalog keeps."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .money import Money


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)

    products: Mapped[list[Product]] = relationship(back_populates="category")


class Product(db.Model):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
        Index("ix_products_category_price", "category_id", "price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    price: Mapped[int]  # minor units
    compare_at_price: Mapped[int | None]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    stock: Mapped[int] = mapped_column(default=0)
    image: Mapped[str] = mapped_column(String(200), default="")
    featured: Mapped[bool] = mapped_column(default=False)
    # Denormalised so listings sort and rank without aggregating per row.
    sold_count: Mapped[int] = mapped_column(default=0)
    rating_count: Mapped[int] = mapped_column(default=0)
    rating_sum: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    category: Mapped[Category] = relationship(back_populates="products")

    @property
    def money(self) -> Money:
        return Money(self.price, self.currency)

    @property
    def compare_at(self) -> Money | None:
        if self.compare_at_price and self.compare_at_price > self.price:
            return Money(self.compare_at_price, self.currency)
        return None

    @property
    def discount_percent(self) -> int:
        if not self.compare_at:
            return 0
        return round(100 * (self.compare_at_price - self.price) / self.compare_at_price)

    @property
    def rating(self) -> float:
        return self.rating_sum / self.rating_count if self.rating_count else 0.0

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    @property
    def stock_state(self) -> str:
        if self.stock <= 0:
            return "out_of_stock"
        if self.stock <= 5:
            return "low_stock"
        return "in_stock"


UNUSABLE_PASSWORD = "!"  # an account that cannot log in (seeded past buyers)


class Customer(UserMixin, db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Part of every session and remember cookie (get_id); bumped at logout and by a new
    # password, which ends every session signed in before (a copied cookie included).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        if self.password_hash == UNUSABLE_PASSWORD:
            return False
        return check_password_hash(self.password_hash, password)


class LoginFailure(db.Model):
    """Failed logins, customers' and admins', for throttling (shared by every worker and
    host); an attempt is recorded before its password is checked
    (``storefront.accounts.begin_attempt`` says why). The table kept the name it had when
    only admins were throttled."""

    __tablename__ = "admin_login_failures"
    __table_args__ = (Index("ix_admin_login_failures_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    realm: Mapped[str] = mapped_column(String(16), server_default="admin")  # or "customer"
    email: Mapped[str] = mapped_column(String(254), index=True)
    ip_net: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Cart(db.Model):
    """A visitor's cart; ``token`` is the anonymous key, ``customer_id`` once signed in."""

    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[CartItem]] = relationship(
        back_populates="cart", cascade="all, delete-orphan", order_by="CartItem.id"
    )


class CartItem(db.Model):
    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id", name="uq_cart_items_cart_product"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int]

    cart: Mapped[Cart] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()

    @property
    def line_total(self) -> Money:
        return self.product.money * self.quantity


class Review(db.Model):
    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        # One review per product per order: the buyer reviews what they received once.
        UniqueConstraint("order_id", "product_id", name="uq_reviews_order_product"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    author_name: Mapped[str] = mapped_column(String(120))
    rating: Mapped[int]
    title: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ProductPair(db.Model):
    """How often two products were bought in the same paid order."""

    __tablename__ = "product_pairs"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    orders: Mapped[int] = mapped_column(default=0)
