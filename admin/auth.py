"""Admin sign-in: hashed passwords, throttled failures, a session separate from customers'."""

from __future__ import annotations

from datetime import timedelta

from flask import g, jsonify, redirect, request, session, url_for
from sqlalchemy import delete, func, or_, select

from storefront.errors import DomainError
from storefront.extensions import db
from storefront.models import utcnow
from tracking.visitor import truncate_ip

from . import audit
from .models import AdminLoginFailure, AdminUser

SESSION_KEY = "admin_user_id"
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


class LoginThrottled(DomainError):
    status_code = 429


class BadAdminLogin(DomainError):
    status_code = 401


def create_user(email: str, password: str, actor: str = "cli") -> AdminUser:
    email = email.strip().lower()
    if len(password) < 10:
        raise DomainError("Use a password of at least 10 characters.")
    user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
    if user is None:
        user = AdminUser(email=email)
        db.session.add(user)
    user.set_password(password)
    audit.record("user_saved", actor, target=email)
    db.session.commit()
    return user


def _recent_failures(email: str, ip_net: str) -> int:
    since = utcnow() - WINDOW
    return db.session.scalar(
        select(func.count()).select_from(AdminLoginFailure).where(
            AdminLoginFailure.at >= since,
            or_(AdminLoginFailure.email == email, AdminLoginFailure.ip_net == ip_net),
        )
    )


def authenticate(email: str, password: str, remote_addr: str | None) -> AdminUser:
    """Five failures for an email or a network in 15 minutes lock it out for the rest."""
    email = email.strip().lower()
    ip_net = truncate_ip(remote_addr) or "unknown"
    if _recent_failures(email, ip_net) >= MAX_FAILURES:
        raise LoginThrottled("Too many failed logins. Try again in 15 minutes.")
    user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
    if user is None or not user.check_password(password):
        db.session.add(AdminLoginFailure(email=email, ip_net=ip_net))
        db.session.execute(delete(AdminLoginFailure).where(
            AdminLoginFailure.at < utcnow() - WINDOW))  # the table stays small
        audit.record("login_failed", email)
        db.session.commit()
        raise BadAdminLogin("Email or password is wrong.")
    user.last_login_at = utcnow()
    audit.record("login", email)
    db.session.commit()
    return user


def current_admin() -> AdminUser | None:
    if "admin" not in g:
        user_id = session.get(SESSION_KEY)
        g.admin = db.session.get(AdminUser, user_id) if isinstance(user_id, int) else None
    return g.admin


def require_admin():
    """before_request of the admin blueprint: every route but the login page."""
    if request.endpoint in {"admin.login", "admin.static"}:
        return None
    if current_admin() is None:
        if request.path.startswith("/admin/api/"):
            return jsonify(error="Log in as an admin first."), 401
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    return None


def login(user: AdminUser) -> None:
    session.pop(SESSION_KEY, None)
    session[SESSION_KEY] = user.id
    session.permanent = False


def logout() -> None:
    user = current_admin()
    if user is not None:
        audit.record("logout", user.email)
        db.session.commit()
    session.pop(SESSION_KEY, None)


def actor() -> str:
    user = current_admin()
    return f"admin:{user.email}" if user else "admin"


def email() -> str:
    user = current_admin()
    return user.email if user else "unknown"


