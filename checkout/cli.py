"""flask --app wsgi orders advance ORDER | expire | remind | send-mail; journey simulate"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from storefront.errors import DomainError
from storefront.extensions import db
from tracking.cli import say_uncounted

from . import fulfilment
from .models import MAX_ID, Order

orders_cli = AppGroup("orders", help="Order fulfilment.")


# The most seconds --after and --within take (a date further back is out of range).
TEN_YEARS = 10 * 365 * 86400


class OrderNumber(click.ParamType):
    """An order as the shopper and the panel see it (TP-000331) or by its id (331)."""

    name = "order"

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        order_id = Order.id_from_number(str(value))
        if order_id is None:
            self.fail(f"{value!r} is not an order number (TP-000331) or id (331, at most "
                      f"{MAX_ID})", param, ctx)
        return order_id


@orders_cli.command("advance")
@click.argument("order_id", type=OrderNumber())
@click.option("--actor", default="cli", show_default=True,
              help="Who moved it (recorded in the order's history and the audit log).")
def advance_command(order_id: int, actor: str) -> None:
    """Move ORDER_ID (TP-000331, or 331) one step: packed -> shipped -> out for delivery ->
    delivered."""
    from admin import audit  # noqa: PLC0415 - the panel imports the checkout

    try:
        event = fulfilment.advance(order_id, actor)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    # In the panel's audit log, as the panel's own button records it ("the admin command").
    audit.record("order_advanced", actor, target=event.order.number,
                 detail=f"{event.from_status} -> {event.to_status}")
    db.session.commit()
    click.echo(f"Order {event.order.number}: {event.from_status} -> {event.to_status}")
    say_uncounted("journey_stage_entered_total and storefront_delivery_seconds")


@orders_cli.command("expire")
@click.option("--after", default=3600, show_default=True, type=click.IntRange(60, TEN_YEARS),
              help="Seconds an order may wait for 3-D Secure.")
def expire_command(after: int) -> None:
    """Cancel orders left waiting for 3-D Secure longer than --after (asking Stripe first:
    one paid after all is recorded paid), and erase guests' checkout contacts and cart
    reminders older than CHECKOUT_CONTACT_DAYS. Run it from cron or a timer, hourly."""
    from datetime import timedelta

    from flask import current_app

    from . import contacts, messages
    from .payments import expire_unauthenticated

    done = expire_unauthenticated(timedelta(seconds=after))
    click.echo(f"{done['canceled']} orders canceled (3-D Secure not completed), "
               f"{done['paid']} found paid.")
    if done["canceled"] or done["paid"]:
        say_uncounted("storefront_orders_total, storefront_revenue_total and "
                      "storefront_payments_total")
    days = current_app.config["CHECKOUT_CONTACT_DAYS"]
    erased = contacts.erase_older_than(days)
    click.echo(f"{erased} guest checkout contacts older than {days} days erased.")
    erased = messages.erase_reminders_older_than(days)
    click.echo(f"{erased} cart reminders older than {days} days erased from the outbox.")


@orders_cli.command("remind")
@click.option("--after", default=3600, show_default=True, type=click.IntRange(60, TEN_YEARS),
              help="Seconds since a cart was abandoned before its reminder.")
@click.option("--within", default=2 * 86400, show_default=True,
              type=click.IntRange(60, TEN_YEARS),
              help="Seconds since it was abandoned after which no reminder is made.")
def remind_command(after: int, within: int) -> None:
    """Put an abandoned-cart reminder in the outbox for each cart, checkout or payment left
    between --within and --after ago whose shopper the store can write to, once per
    journey and at most once per email in --within, with a link that puts the products in
    the cart of whoever follows it. Needs STORE_URL (outside the demo). Run it hourly:
    deploy/touchpoint-remind.timer."""
    from datetime import timedelta

    from . import messages

    if within <= after:
        raise click.BadParameter("must be more than --after", param_hint="--within")
    try:
        messages.require_store_url()  # now, not at the first cart there is to remind
        done = messages.remind(timedelta(seconds=after), timedelta(seconds=within))
    except messages.MessageError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{done['reminded']} cart reminders put in the outbox; {done['skipped']} "
               "abandoned carts had no one to write to, nothing left in them or a purchase "
               "since.")


@orders_cli.command("send-mail")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Most messages to send in this run (the oldest due first).")
def send_mail_command(limit: int) -> None:
    """Send the outbox's waiting messages through MAIL_URL (SMTP), and record what became
    of each: sent, to be tried again (a temporary refusal, the server down) or not sent (a
    refused address, or older than MAIL_MAX_AGE). Run it every minute:
    deploy/touchpoint-mail.timer. Exits 1 if the server cannot be reached."""
    from . import mail

    if not mail.enabled():
        raise click.ClickException(
            "MAIL_URL is not set: the mail server to send through, e.g. "
            "smtp+tls://user:password@smtp.example.com:587 (and MAIL_FROM, the sender)")
    try:
        done = mail.send_due(limit)
    except mail.MailError as exc:
        click.echo(_sent(exc.done))
        raise click.ClickException(f"{exc}; the messages wait for the next run.") from None
    click.echo(_sent(done))


def _sent(done: dict[str, int]) -> str:
    return (f"{done['sent']} messages sent, {done['retrying']} to try again later, "
            f"{done['failed']} not sent (refused for good, or too old).")


@click.command("simulate")
@click.option("--shoppers", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True,
              help="The running store (loopback).")
@click.option("--seed", type=int, default=None, help="Random seed, for a repeatable run.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the ground truth here.")
@click.option("--think", default=0.05, show_default=True, type=float,
              help="Longest pause between a shopper's clicks, seconds.")
@click.option("--return-after", default=0.0, show_default=True, type=float,
              help="Seconds before shoppers who come back to an abandoned cart return "
                   "(longer than the store's JOURNEY_ABANDON_AFTER; 0: nobody returns).")
@click.option("--admin-email", envvar="TOUCHPOINT_ADMIN_EMAIL",
              help="An admin, for the courier who moves paid orders to delivered.")
@click.option("--admin-password", envvar="TOUCHPOINT_ADMIN_PASSWORD")
@click.option("--trickle", type=float, default=None, metavar="PER_SECOND",
              help="Live mode: start about PER_SECOND shoppers a second until Ctrl-C (or "
                   "--duration), with the courier delivering as it goes.")
@click.option("--duration", type=float, default=None, help="Seconds to trickle for.")
def simulate_command(shoppers, concurrency, base_url, seed, json_path, think, return_after,
                     admin_email, admin_password, trickle, duration) -> None:
    """Drive a running store with simulated shoppers and print their ground truth."""
    from urllib.parse import urlsplit

    from .simulator import Simulation, SimulationConfig, Trickle, dump, format_truth

    if urlsplit(base_url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise click.ClickException("The simulator only drives a store on this machine.")
    config = SimulationConfig(
        base_url=base_url, shoppers=shoppers, concurrency=concurrency, seed=seed,
        think=(0.0, think), return_after=return_after, admin_email=admin_email,
        admin_password=admin_password,
    )
    if trickle is not None:
        truth = _trickle(Trickle(config, rate=trickle), duration)
    else:
        with click.progressbar(length=shoppers, label="Shoppers", show_pos=True,
                               file=sys.stderr) as bar:
            truth = Simulation(config).run(progress=bar.update)
    click.echo(format_truth(truth))
    if json_path:
        dump(truth, json_path)
    if truth["errors"]:
        click.echo("First errors: " + "; ".join(truth["errors"][:5]), err=True)
        if trickle is None:  # a smoke test after a deploy scripts on this
            raise SystemExit(1)


def _trickle(trickle, duration: float | None) -> dict:
    import signal
    import threading
    import time

    started = time.monotonic()
    last = [0.0]

    def tick(t) -> None:
        now = time.monotonic()
        if duration is not None and now - started >= duration:
            t.stop.set()
        if now - last[0] >= 10:
            last[0] = now
            paid = sum(j.purchased for r in t.simulation.results for j in r.journeys)
            line = f"  simulator: {t.started} shoppers so far, {paid} purchases"
            if sys.stderr.isatty():  # one line, rewritten: the demo's banner stays in view
                click.echo(f"\r{line}", err=True, nl=False)
            else:
                click.echo(line, err=True)

    def interrupt(*_args) -> None:
        trickle.stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)
    truth = trickle.run(on_tick=tick)
    if last[0] and sys.stderr.isatty():
        click.echo(err=True)  # off the rewritten line
    return truth
