"""Admin sign-in: hashed passwords, throttled failures (storefront.accounts), a session that
ends at logout, separate from customers'."""

from __future__ import annotations

from flask import g, jsonify, redirect, request, session, url_for
from sqlalchemy import select, update

from storefront.accounts import begin_attempt, end_attempt, start_fresh_session
from storefront.errors import DomainError
from storefront.extensions import db
from storefront.models import utcnow

from . import audit
from .models import AdminUser

SESSION_KEY = "admin_user_id"
VERSION_KEY = "admin_session_version"  # AdminUser.session_version when the session began


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


def authenticate(email: str, password: str, remote_addr: str | None) -> AdminUser:
    email = email.strip().lower()
    attempt = begin_attempt("admin", email, remote_addr)
    user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
    if user is None or not user.check_password(password):
        end_attempt(attempt, succeeded=False)
        audit.record("login_failed", email)
        db.session.commit()
        raise BadAdminLogin("Email or password is wrong.")
    end_attempt(attempt, succeeded=True)
    user.last_login_at = utcnow()
    audit.record("login", email)
    db.session.commit()
    return user


def current_admin() -> AdminUser | None:
    if "admin" not in g:
        user_id = session.get(SESSION_KEY)
        user = db.session.get(AdminUser, user_id) if isinstance(user_id, int) else None
        if user is not None and session.get(VERSION_KEY) != user.session_version:
            user = None  # a session from before a logout or a new password
        g.admin = user
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
    start_fresh_session()
    session[SESSION_KEY] = user.id
    session[VERSION_KEY] = user.session_version
    session.permanent = False


def logout() -> None:
    """Ends every session of this admin, not only this browser's: a copy of its cookie
    would otherwise stay signed in."""
    user = current_admin()
    if user is not None:
        db.session.execute(update(AdminUser).where(AdminUser.id == user.id)
                           .values(session_version=AdminUser.session_version + 1))
        audit.record("logout", user.email)
        db.session.commit()
    session.pop(SESSION_KEY, None)
    session.pop(VERSION_KEY, None)
    g.pop("admin", None)


def actor() -> str:
    user = current_admin()
    return f"admin:{user.email}" if user else "admin"


def email() -> str:
    user = current_admin()
    return user.email if user else "unknown"


