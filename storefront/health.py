"""Health checks for load balancers and orchestrators; never touchpoints, never tracked."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify
from sqlalchemy import text

from .extensions import db, journey

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", journey.exempt(healthz))
    app.add_url_rule("/readyz", "readyz", journey.exempt(readyz))


def healthz():
    """Liveness: the process answers. Restart it when this fails."""
    return jsonify(status="ok")


def readyz():
    """Readiness: send traffic here? The database answers; the journey writer is alive (or
    not needed yet); how much waits in the spool. 503 when not ready."""
    checks: dict = {}
    ready = True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver's error: not ready, and say which
        log.warning("readyz: database check failed: %s", type(exc).__name__)
        checks["database"] = f"unreachable ({type(exc).__name__})"
        ready = False
    finally:
        db.session.rollback()
    state = current_app.extensions["journey"]
    if not state.enabled:
        checks["tracker"] = {"enabled": False}
    else:
        writer = state.writer.health()
        spool = state.spool.sizes()  # one listing of the directory
        checks["tracker"] = {"enabled": True, "writer": writer, "queue": state.writer.depth,
                             "spool_bytes": spool.replayable,
                             "spool_refused_bytes": spool.refused,
                             "spool_waiting": state.spool.pending(),
                             # Not a reason to take the host out: the database answers.
                             # tracking_spool_writable and its alert say it.
                             "spool_writable": state.spool.writable()}
        # A dead writer loses nothing (events wait in the spool) but needs a restart.
        ready = ready and writer != "dead"
    return jsonify(status="ready" if ready else "not ready", checks=checks), (
        200 if ready else 503)
