"""The panel's audit log: every state change an admin makes, with who, when and from where.

Recorded in the caller's transaction (committed with the change itself), so an action and
its record are stored together or not at all. Passwords and tokens never go in.
"""

from __future__ import annotations

import re

from flask import has_request_context, request
from sqlalchemy import func, select

from storefront.extensions import db
from tracking.visitor import truncate_ip

from .models import AdminAction


def record(action: str, actor: str, target: str = "", detail: str = "") -> AdminAction:
    entry = AdminAction(
        actor=actor[:254], action=action[:64], target=str(target)[:254], detail=detail[:500],
        ip_net=truncate_ip(request.remote_addr) if has_request_context() else None,
    )
    db.session.add(entry)
    return entry


def recent(limit: int = 200, *, actor: str | None = None, action: str | None = None,
           before: int | None = None) -> list[dict]:
    """The latest entries, newest first (by id: the order they were made in): those of one
    ``actor`` or ``action`` if given, and older than the entry ``before`` (the next page)."""
    query = select(AdminAction).order_by(AdminAction.id.desc()).limit(limit)
    if actor:
        query = query.where(AdminAction.actor == actor)
    if action:
        query = query.where(AdminAction.action == action)
    if before:
        query = query.where(AdminAction.id < before)
    return [{"id": r.id, "at": r.at.isoformat(timespec="seconds") + "Z", "actor": r.actor,
             "action": r.action, "target": r.target, "detail": r.detail, "ip_net": r.ip_net}
            for r in db.session.scalars(query)]


def choices(limit: int = 100) -> dict[str, list[str]]:
    """Who and what the log holds, for its filters (the most recent first)."""
    def distinct(column) -> list[str]:
        return list(db.session.scalars(
            select(column).group_by(column).order_by(func.max(AdminAction.id).desc())
            .limit(limit)))
    return {"actors": distinct(AdminAction.actor), "actions": distinct(AdminAction.action)}


# The log keeps the action's name and its detail as recorded; the page says them in words.
ACTION_WORDS = {
    "login": "Signed in", "login_failed": "Sign-in failed", "logout": "Signed out",
    "user_saved": "Admin account saved", "order_advanced": "Order moved on",
    "order_canceled": "Order canceled", "order_found_paid": "Order found paid",
    "abandoned_exported": "Abandoned carts downloaded", "return_refunded": "Return refunded",
    "return_declined": "Return declined", "return_restocked": "Return's items restocked",
}
_STEP = re.compile(r"^([a-z_]+) -> ([a-z_]+)$")
# A return's entry names its order first in its detail ("order TP-000123, $30.00, 2 items")
_RETURNS_ORDER = re.compile(r"^order (TP-\d+),")


def items(n: int) -> str:
    """"1 item", "3 items"."""
    return f"{n} item" if n == 1 else f"{n} items"


def order_number(target: str, detail: str) -> tuple[str, str] | None:
    """The order an entry is about, and the part of the orders page that shows it: an
    order's own entry names it as its target; a return's names it in its detail."""
    if (target or "").startswith("TP-"):
        return target, ""
    found = _RETURNS_ORDER.match(detail or "") if (target or "").startswith("R-") else None
    return (found.group(1), "returns") if found else None


def action_words(action: str) -> str:
    return ACTION_WORDS.get(action) or action.replace("_", " ").capitalize()


def detail_words(action: str, detail: str) -> str:
    """An order's fulfilment step as the orders page says it: "Out for delivery →
    Delivered", not "out_for_delivery -> delivered"."""
    step = _STEP.match(detail or "") if action == "order_advanced" else None
    if step is None:
        return detail
    return " → ".join(s.replace("_", " ").capitalize() for s in step.groups())
