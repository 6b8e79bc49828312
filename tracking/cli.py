"""flask --app wsgi journey sweep | forget VISITOR_ID | requeue"""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from .metrics import multiprocess_dir

journey_cli = AppGroup("journey", help="Customer journeys: abandonment sweep, erasure.")


def _tracker():
    return current_app.extensions["journey"].tracker


@journey_cli.command("sweep")
def sweep_command() -> None:
    """Mark idle journeys abandoned (cart, checkout, payment) or ended (bounce, browse exit).

    Safe to run from cron while the app runs its own periodic sweep: each journey is
    abandoned once.
    """
    counts = _tracker().sweep()
    if not counts:
        click.echo("No idle journeys.")
        return
    for stage, n in counts.items():
        click.echo(f"{stage}: {n} abandoned")
    say_uncounted("journey_abandoned_total")


def say_uncounted(what: str) -> None:
    """A command that tracked something, run without the store's metrics directory: its
    counts end with it (the database, and so the panel, has them all)."""
    if not multiprocess_dir():
        click.echo(f"Note: this is counted in this command's {what} only, which ends with "
                   "it; the store's /metrics counts what its own workers do (the panel "
                   "reads the database, and has it). Run it with the store's "
                   "PROMETHEUS_MULTIPROC_DIR to count it there.", err=True)


@journey_cli.command("forget")
@click.argument("visitor_id")
def forget_command(visitor_id: str) -> None:
    """Erase everything stored about VISITOR_ID (events and journeys)."""
    visitor_id = visitor_id.strip()
    if not visitor_id or len(visitor_id) > 64:
        raise click.BadParameter("a visitor id is 1 to 64 characters (the panel shows it)",
                                 param_hint="VISITOR_ID")
    events, journeys = _tracker().forget(visitor_id)
    if not events and not journeys:  # said, where a mistyped id would look done
        click.echo(f"Nothing is stored about visitor {visitor_id}: erased already, or not "
                   "a visitor's id.", err=True)
        return
    click.echo(f"Erased {events} events and {journeys} journeys of visitor {visitor_id}.")


@journey_cli.command("requeue")
def requeue_command() -> None:
    """Replay the events the database refused (set aside in the spool's refused-*.jsonl,
    counted in tracking_events_dropped_total{reason="refused"}), once what refused them is
    mended: a column widened, a bug fixed. One refused again is set aside again."""
    spool = current_app.extensions["journey"].spool
    configured = current_app.config["JOURNEY_SPOOL_DIR"]
    if not spool.directory.is_dir() and configured and Path(configured).parent.is_dir():
        # The store's folder, where nothing was ever spooled (a mistyped path's parent
        # would most likely not be there either: that is said below)
        click.echo(f"Nothing was ever set aside in {spool.directory}: no refused events.")
        return
    if not spool.directory.is_dir():  # the default, most likely not the store's: say so
        raise click.ClickException(
            f"No spool at {spool.directory}. Run this with the store's JOURNEY_SPOOL_DIR "
            "(and its database settings).")
    moved = spool.requeue()
    click.echo(f"Requeued {moved} refused events from {spool.directory}; the running "
               "store's writer replays them within seconds.")
