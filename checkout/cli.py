"""flask --app wsgi orders advance ORDER_ID"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from storefront.errors import DomainError

from . import fulfilment

orders_cli = AppGroup("orders", help="Order fulfilment.")


@orders_cli.command("advance")
@click.argument("order_id", type=int)
@click.option("--actor", default="cli", show_default=True, help="Who moved it (recorded).")
def advance_command(order_id: int, actor: str) -> None:
    """Move ORDER_ID one step: packed -> shipped -> out for delivery -> delivered."""
    try:
        event = fulfilment.advance(order_id, actor)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Order {event.order.number}: {event.from_status} -> {event.to_status}")
