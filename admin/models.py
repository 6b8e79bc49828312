"""The shop owner's accounts, kept apart from customers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from storefront.extensions import db
from storefront.models import utcnow


class AdminUser(db.Model):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Kept in the admin's session; bumped at logout and by a new password, which ends every
    # session signed in before (a copied cookie included).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class AdminAction(db.Model):
    """The audit log: who did what in the panel (or with the admin CLI), and when."""

    __tablename__ = "admin_actions"
    __table_args__ = (Index("ix_admin_actions_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))  # the admin's email, or "cli"
    action: Mapped[str] = mapped_column(String(64))  # login, login_failed, logout, ...
    target: Mapped[str] = mapped_column(String(254), default="")  # e.g. an order number
    detail: Mapped[str] = mapped_column(String(500), default="")
    ip_net: Mapped[str | None] = mapped_column(String(64))  # truncated, like the tracker's
