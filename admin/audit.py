"""The panel's audit log: every state change an admin makes, with who, when and from where.

Recorded in the caller's transaction (committed with the change itself), so an action and
its record are stored together or not at all. Passwords and tokens never go in.
"""

from __future__ import annotations

from flask import has_request_context, request
from sqlalchemy import select

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


def recent(limit: int = 200) -> list[dict]:
    rows = db.session.scalars(
        select(AdminAction).order_by(AdminAction.at.desc(), AdminAction.id.desc()).limit(limit))
    return [{"at": r.at.isoformat(timespec="seconds") + "Z", "actor": r.actor,
             "action": r.action, "target": r.target, "detail": r.detail, "ip_net": r.ip_net}
            for r in rows]
