"""Returns: a buyer sends back lines of a delivered order within RETURN_DAYS; the owner
refunds them through Stripe (localstripe) or declines; each step a touchpoint of the order's
journey, a message in the outbox and, for a refund, storefront_refunds_total."""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from admin.models import AdminAction
from checkout import fulfilment, links
from checkout.models import (
    MessageKind,
    Order,
    OrderReturn,
    OutboxMessage,
    PaymentAttempt,
    ReturnStatus,
)
from storefront.extensions import db
from storefront.models import utcnow

from . import factories
from .support import CARD_OK, FlakyProxy, Shopper, csrf_token, value
from .test_outbox import owner_client  # noqa: F401 - the panel's signed-in owner


def _delivered_to(app, localstripe, email, *lines, name="Buyer") -> tuple:
    """A buyer's delivered order of ``lines`` ((product, quantity), in that order), and the
    buyer's browser."""
    buyer = Shopper(app.test_client(), localstripe)
    for product, quantity in lines:
        buyer.add_to_cart(product.id, quantity=quantity)
    buyer.to_payment(email=email, name=name)
    assert buyer.pay(CARD_OK).get_json()["status"] == "succeeded"
    order = db.session.scalar(select(Order).where(Order.email == email))
    for _ in range(4):
        fulfilment.advance(order.id, "courier")
    db.session.expire_all()
    return buyer, db.session.get(Order, order.id)


@pytest.fixture
def delivered(app, shop_db, localstripe):
    """A buyer's delivered order of 3 mugs and a teapot, and the buyer's browser."""
    mug = factories.product("Mug", price=1500, stock=50)
    pot = factories.product("Teapot", price=4000, stock=50)
    buyer, order = _delivered_to(app, localstripe, "grace@example.com", (mug, 3), (pot, 1),
                                 name="Grace Hopper")
    return buyer, order, {line.name: line.id for line in order.lines}


def _at_once(app, *actions, start_together=True) -> list:
    """Run each action (no arguments) on a thread of its own, in an application context,
    all starting together (unless ``start_together`` is False); what each answered, or
    "refused: …" for a ReturnNotAllowed, or "error: …"."""
    from checkout.returns import ReturnNotAllowed  # noqa: PLC0415

    met, answers = threading.Barrier(len(actions)), []

    def run(action):
        with app.app_context():
            if start_together:
                met.wait(5)
            try:
                answers.append(action())
            except ReturnNotAllowed as exc:
                answers.append(f"refused: {exc}")
            except Exception as exc:  # noqa: BLE001 - reported in the assertion
                answers.append(f"error: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                db.session.rollback()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def page(buyer, order) -> tuple[str, str]:
    url = f"/orders/{links.order_token(order.id)}"
    return url, buyer.client.get(url).get_data(as_text=True)


def ask(buyer, order, reason="damaged", note="", **quantities):
    url = f"/orders/{links.order_token(order.id)}/returns"
    return buyer.post(url, {"reason": reason, "note": note,
                            **{f"qty-{k}": str(v) for k, v in quantities.items()}})


def returns_of(order) -> list[OrderReturn]:
    db.session.expire_all()
    return db.session.scalars(select(OrderReturn).where(OrderReturn.order_id == order.id)
                              .order_by(OrderReturn.id)).all()


def test_a_buyer_returns_lines_and_the_owner_refunds_them_through_stripe(
        app, delivered, localstripe, touchpoints, owner_client, flush_journeys):  # noqa: F811
    buyer, order, line = delivered
    url, shown = page(buyer, order)
    assert "Request a return" in shown and f'name="qty-{line["Mug"]}"' in shown
    response = ask(buyer, order, "damaged", "one cracked", **{str(line["Mug"]): 2})
    assert response.status_code == 302 and response.headers["Location"].endswith("#returns")
    [made] = returns_of(order)
    assert (made.status, made.reason, made.note, made.amount, made.items) == (
        ReturnStatus.REQUESTED, "damaged", "one cracked", 3000, 2)
    shown = buyer.client.get(url).get_data(as_text=True)
    assert made.number in shown and "requested" in shown
    # One mug and the teapot are still returnable; the two mugs asked for are not.
    assert re.search(rf'name="qty-{line["Mug"]}">(<option[^>]*>\d</option>){{2}}</select>',
                     shown)
    assert ask(buyer, order, **{str(line["Mug"]): 2}).status_code == 400  # only 1 left
    assert len(returns_of(order)) == 1

    request_message = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.kind == MessageKind.RETURN_UPDATE))
    assert request_message.subject == f"We have your return request for order {order.number}"
    assert "2 x Mug" in request_message.body and "$30.00" in request_message.body

    listed = owner_client.get("/admin/api/returns").get_json()
    assert listed["counts"] == {"requested": 1, "refunding": 0, "refunded": 0, "declined": 0}
    assert listed["returns"][0]["lines"] == [{"name": "Mug", "quantity": 2}]
    orders_page = owner_client.get("/admin/orders").get_data(as_text=True)
    assert made.number in orders_page and "1 waiting for you" in orders_page
    token = re.search(r'name="csrf_token" value="([^"]+)"', orders_page).group(1)
    refunded = owner_client.post(f"/admin/returns/{made.id}/refund",
                                 data={"csrf_token": token})
    assert refunded.status_code == 302
    [made] = returns_of(order)
    assert made.status == ReturnStatus.REFUNDED and made.refund_id.startswith("re_")
    assert re.fullmatch(r"[0-9a-f]{32}", made.refund_key), "random: not the row's id"
    assert made.decided_by == "owner@example.com"
    [stripe_refund] = [r for r in localstripe.list_all("refunds") if r["id"] == made.refund_id]
    assert stripe_refund["amount"] == 3000
    # Twice is refused, and Stripe is not asked again.
    again = owner_client.post(f"/admin/returns/{made.id}/refund", data={"csrf_token": token},
                              follow_redirects=True)
    assert "already refunded" in again.get_data(as_text=True)
    intent = db.session.scalar(select(PaymentAttempt.payment_intent_id).where(
        PaymentAttempt.order_id == order.id, PaymentAttempt.status == "succeeded"))
    assert [r["amount"] for r in localstripe.list_all("refunds")
            if r.get("payment_intent") == intent] == [3000]
    assert db.session.scalar(select(AdminAction.detail).where(
        AdminAction.action == "return_refunded")) == f"order {order.number}, $30.00, 2 items"
    assert f"Your refund for order {order.number}" in [
        m.subject for m in db.session.scalars(select(OutboxMessage))]

    flush_journeys()
    returned = [e for e in touchpoints.events
                if e.touchpoint in ("return_requested", "order_refunded")]
    assert [e.touchpoint for e in returned] == ["return_requested", "order_refunded"]
    assert {e.journey_id for e in returned} == {order.journey_id}
    assert (returned[0].props["reason"], returned[0].props["items"]) == ("damaged", 2)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert value(text, "storefront_refunds_total", currency="USD") == 30.0
    assert value(text, "journey_touchpoints_total", touchpoint="return_requested") == 1


def test_the_owner_declines_and_the_lines_can_be_asked_for_again(
        app, delivered, owner_client):  # noqa: F811
    buyer, order, line = delivered
    assert ask(buyer, order, "no_longer_needed", **{str(line["Teapot"]): 1}).status_code == 302
    [made] = returns_of(order)
    csrf = {"X-CSRFToken": csrf_token(owner_client)}
    answer = owner_client.post(f"/admin/api/returns/{made.id}/decline", headers=csrf)
    assert answer.status_code == 200 and answer.get_json()["status"] == "declined"
    assert owner_client.post(f"/admin/api/returns/{made.id}/refund",
                             headers=csrf).status_code == 409
    assert owner_client.post(f"/admin/api/returns/{made.id}/refund").status_code == 400, \
        "no CSRF token"
    assert app.test_client().post(f"/admin/api/returns/{made.id}/refund").status_code in (
        302, 400, 401)
    assert "About your return" in db.session.scalars(
        select(OutboxMessage.subject).order_by(OutboxMessage.id.desc())).first()
    # Declined lines are the buyer's again to return, and the page says so.
    assert "not accepted: no refund was made; you can ask again below" in page(buyer, order)[1]
    assert ask(buyer, order, "damaged", **{str(line["Teapot"]): 1}).status_code == 302


def test_returns_need_a_delivered_order_inside_the_window_and_a_valid_form(
        app, shop_db, localstripe, delivered):
    buyer, order, line = delivered
    mug = str(line["Mug"])
    for bad, said in (({"reason": "bored"}, "Choose why"),
                      ({"reason": "damaged"}, "Choose how many"),
                      ({"reason": "damaged", mug: 4}, "at most 3 of Mug"),
                      ({"reason": "damaged", "999999": 1}, "not in this order"),
                      ({"reason": "damaged", mug: -1}, "Choose a number"),
                      ({"reason": "damaged", "note": "x" * 501, mug: 1}, "at most 500 characters"),
                      ({"reason": "damaged", "0" + mug: 1}, "Choose a number"),
                      ({"reason": "damaged", mug: "２"}, "Choose a number")):
        reason = bad.pop("reason")
        note = bad.pop("note", "")
        response = ask(buyer, order, reason, note, **bad)
        assert response.status_code == 400, bad
        assert said in response.get_data(as_text=True), (bad, said)
    assert returns_of(order) == []
    # An empty form says all that is missing at once, each beside its field.
    empty = ask(buyer, order, "").get_data(as_text=True)
    assert 'id="e-reason">Choose why' in empty and 'id="e-quantities">Choose how many' in empty
    # What the buyer chose stays chosen when the reason is missing; the error is announced.
    shown = ask(buyer, order, "", **{mug: 2}).get_data(as_text=True)
    assert re.search(rf'name="qty-{mug}">.*?<option value="2" selected>', shown, re.S)
    assert 'role="alert" id="e-reason"' in shown and 'aria-describedby="e-reason"' in shown
    # 32 days on: past the window, and past the session cookie (31 days), so the buyer
    # has a fresh session throughout (at 31 days it would lapse between two requests)
    with time_machine.travel(utcnow() + timedelta(days=32)):
        _url, shown = page(buyer, order)
        assert "Request a return" not in shown
        buyer._csrf = None  # a month on: a fresh page's token
        refused = ask(buyer, order, "damaged", **{mug: 1})
        assert refused.status_code == 400 and "return window" in refused.get_data(as_text=True)
        without_reason = ask(buyer, order, "", **{mug: 1}).get_data(as_text=True)
        assert re.search(r'role="alert">\s*Choose why', without_reason), (
            "never an empty alert", re.findall(r'role="alert"[^<]*<?[^<]*', without_reason),
            re.findall(r"<h1>[^<]*", without_reason))
    # Not delivered yet: no form, and a forged request is refused.
    other = Shopper(app.test_client(), localstripe)
    other.add_to_cart(db.session.get(Order, order.id).lines[0].product_id)
    other.to_payment(email="alan@example.com", name="Alan Turing")
    assert other.pay(CARD_OK).get_json()["status"] == "succeeded"
    undelivered = db.session.scalars(select(Order).order_by(Order.id.desc())).first()
    assert "Request a return" not in page(other, undelivered)[1]
    line_id = undelivered.lines[0].id
    refused = ask(other, undelivered, "damaged", **{str(line_id): 1})
    assert refused.status_code == 400 and "once your order has been delivered" in \
        refused.get_data(as_text=True)


def test_two_requests_at_once_never_return_more_than_was_bought(app, delivered, backend):
    """Both at the same moment for the last 3 mugs: one gets them, the other is told."""
    buyer, order, line = delivered
    from checkout import returns

    barrier, results = threading.Barrier(2), []

    def request_all():
        with app.app_context():
            barrier.wait(5)
            try:
                results.append(returns.request_return(
                    db.session.get(Order, order.id), {line["Mug"]: 3}, "damaged").id)
            except returns.ReturnNotAllowed as exc:
                results.append(str(exc))

    threads = [threading.Thread(target=request_all) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2 and sum(isinstance(r, int) for r in results) == 1, results
    assert sum(r.items for r in returns_of(order)) == 3


def refunds_at_stripe(localstripe, order) -> list[int]:
    intent = db.session.scalar(select(PaymentAttempt.payment_intent_id).where(
        PaymentAttempt.order_id == order.id, PaymentAttempt.status == "succeeded"))
    return [r["amount"] for r in localstripe.list_all("refunds")
            if r.get("payment_intent") == intent]


def test_a_refund_whose_answer_was_lost_is_never_made_twice(
        app, delivered, owner_client, localstripe):  # noqa: F811
    """Stripe makes the refund but its answer never arrives (a proxy drops it): the return
    stays "refunding", which cannot be declined nor asked for again at once; two minutes
    on, Refund finds the refund at Stripe and takes it instead of making a second."""
    buyer, order, line = delivered
    assert ask(buyer, order, "wrong_item", **{str(line["Mug"]): 1}).status_code == 302
    [made] = returns_of(order)
    csrf = {"X-CSRFToken": csrf_token(owner_client)}
    proxy = FlakyProxy(int(localstripe.url.rsplit(":", 1)[1]))
    real = app.config["STRIPE_API_BASE"]
    try:
        app.config.update(STRIPE_API_BASE=proxy.url)
        proxy.lose_next("POST /v1/refunds")
        lost = owner_client.post(f"/admin/api/returns/{made.id}/refund", headers=csrf)
        assert lost.status_code == 503 and "may or may not" in lost.get_json()["error"]
        assert proxy.lost == ["POST /v1/refunds"] and refunds_at_stripe(localstripe, order) \
            == [1500], "Stripe made it; the store did not hear"
        assert returns_of(order)[0].status == ReturnStatus.REFUNDING
        assert owner_client.post(f"/admin/api/returns/{made.id}/decline",
                                 headers=csrf).status_code == 409
        again = owner_client.post(f"/admin/api/returns/{made.id}/refund", headers=csrf)
        assert again.status_code == 409 and "two minutes" in again.get_json()["error"]
        refused = ask(buyer, order, "damaged", **{str(line["Mug"]): 3})
        assert refused.status_code == 400, "the mug being refunded is not returnable again"
        assert f"{made.number}</strong> · 1 item · $15.00 ·\n    being refunded" in \
            page(buyer, order)[1], "the buyer is not told it was refused"
        with time_machine.travel(utcnow() + timedelta(minutes=3)):
            found = owner_client.post(f"/admin/api/returns/{made.id}/refund", headers=csrf)
        assert found.status_code == 200 and found.get_json()["status"] == "refunded"
    finally:
        app.config["STRIPE_API_BASE"] = real
        proxy.stop()
    assert refunds_at_stripe(localstripe, order) == [1500], "one refund, not two"
    [made] = returns_of(order)
    assert made.status == ReturnStatus.REFUNDED and made.refund_id.startswith("re_")
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert value(text, "storefront_refunds_total", currency="USD") == 15.0


def test_two_clicks_at_once_refund_once_and_a_refund_and_a_decline_never_both(
        app, delivered, owner_client, localstripe, backend):  # noqa: F811
    """On SQLite as on PostgreSQL: the claim is a compare-and-set, so of two owners
    clicking Refund at once one refunds and one is told; of a Refund and a Decline at once,
    one wins and the buyer gets one answer."""
    from checkout import returns

    buyer, order, line = delivered
    assert ask(buyer, order, "damaged", **{str(line["Mug"]): 1}).status_code == 302
    assert ask(buyer, order, "damaged", **{str(line["Teapot"]): 1}).status_code == 302
    mug_return, pot_return = returns_of(order)

    def race(*actions) -> list[str]:
        return _at_once(app, *(functools.partial(
            lambda action, return_id: getattr(returns, action)(return_id, "owner").status,
            action, return_id) for action, return_id in actions))

    both = race(("refund", mug_return.id), ("refund", mug_return.id))
    assert sorted(r.split(":")[0] for r in both) == ["refunded", "refused"], both
    assert refunds_at_stripe(localstripe, order) == [1500]
    mixed = race(("refund", pot_return.id), ("decline", pot_return.id))
    assert len([r for r in mixed if not r.startswith("refused")]) == 1, mixed
    final = returns_of(order)[1].status
    assert final in (ReturnStatus.REFUNDED, ReturnStatus.DECLINED)
    assert sorted(refunds_at_stripe(localstripe, order)) == (
        [1500, 4000] if final == ReturnStatus.REFUNDED else [1500])
    answers = [m.subject for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.like(f"return:{pot_return.id}:%")))]
    assert len(answers) == 2, answers  # the request and one answer
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert value(text, "storefront_refunds_total", currency="USD") == (
        55.0 if final == ReturnStatus.REFUNDED else 15.0)


def test_a_refund_stripe_refuses_is_requested_again_to_decline(
        app, delivered, owner_client, localstripe):  # noqa: F811
    """Stripe says no (here: a payment it does not know): nothing was refunded, the owner is
    told why, and the return can be declined."""
    buyer, order, line = delivered
    assert ask(buyer, order, "other", **{str(line["Mug"]): 1}).status_code == 302
    [made] = returns_of(order)
    attempt = db.session.scalar(select(PaymentAttempt).where(
        PaymentAttempt.order_id == order.id, PaymentAttempt.status == "succeeded"))
    attempt.payment_intent_id = "pi_nosuchpayment000"
    db.session.commit()
    csrf = {"X-CSRFToken": csrf_token(owner_client)}
    refused = owner_client.post(f"/admin/api/returns/{made.id}/refund", headers=csrf)
    assert refused.status_code == 409 and "Stripe refused the refund" in \
        refused.get_json()["error"]
    assert returns_of(order)[0].status == ReturnStatus.REQUESTED
    assert owner_client.post(f"/admin/api/returns/{made.id}/decline",
                             headers=csrf).get_json()["status"] == "declined"


def test_return_days_are_checked_at_start():
    from storefront.app import create_app
    from storefront.config import ConfigError

    base = {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    for bad in (-1, 4_000_000):
        with pytest.raises(ConfigError, match="RETURN_DAYS"):
            create_app({**base, "RETURN_DAYS": bad})
    assert create_app({**base, "RETURN_DAYS": 0}).config["RETURN_DAYS"] == 0


def test_the_overview_takes_refunds_off_revenue_on_the_day_and_counts_returned_orders(
        app, delivered, owner_client):  # noqa: F811
    """Net revenue is revenue less the refunds made in the period (by the day refunded, as a
    bank statement has them); the return rate is the share of the period's paid orders with
    a return asked for, whatever the owner made of it."""
    buyer, order, line = delivered
    today = utcnow().date()

    def kpis(first, last=today):
        overview = owner_client.get(
            f"/admin/api/overview?from={first.isoformat()}&to={last.isoformat()}").get_json()
        return overview["kpis"]

    before = kpis(today)
    assert before["revenue"] == order.total and before["net_revenue"] == order.total
    assert (before["refunds"], before["returned_orders"], before["return_rate"]) == (0, 0, 0)
    assert ask(buyer, order, **{str(line["Mug"]): 2}).status_code == 302
    [made] = returns_of(order)
    asked = kpis(today)
    assert (asked["returned_orders"], asked["return_rate"], asked["refunds"]) == (1, 1.0, 0)
    csrf = {"X-CSRFToken": csrf_token(owner_client)}
    assert owner_client.post(f"/admin/api/returns/{made.id}/refund",
                             headers=csrf).status_code == 200
    refunded = kpis(today)
    assert refunded["revenue"] == order.total, "the order was paid: revenue is what was taken"
    assert (refunded["refunds"], refunded["refunded_returns"]) == (3000, 1)
    assert refunded["net_revenue"] == order.total - 3000
    assert refunded["return_rate"] == 1.0
    # A declined return is still an order returned; it takes nothing off.
    assert ask(buyer, order, **{str(line["Teapot"]): 1}).status_code == 302
    declined = returns_of(order)[-1]
    assert owner_client.post(f"/admin/api/returns/{declined.id}/decline",
                             headers=csrf).status_code == 200
    assert kpis(today)["refunds"] == 3000 and kpis(today)["returned_orders"] == 1
    # A period the refund was not made in takes nothing off; nor one with no orders.
    yesterday = today - timedelta(days=1)
    earlier = kpis(today - timedelta(days=7), yesterday)
    assert (earlier["refunds"], earlier["net_revenue"], earlier["return_rate"]) == (0, 0, None)
    page = owner_client.get("/admin/").get_data(as_text=True)
    assert 'data-kpi="net_revenue"' in page and 'data-kpi-note="refunds"' in page
    assert 'data-kpi="return_rate"' in page


def test_a_refunded_returns_items_go_back_in_stock_once_when_the_owner_says_so(
        app, delivered, owner_client):  # noqa: F811
    """A refund does not restock by itself (the goods are looked over first); Restock puts
    the returned quantities back, once however often or at once it is asked, and only for a
    refunded return; it is audited."""
    from storefront.models import Product  # noqa: PLC0415

    buyer, order, line = delivered

    def stock() -> dict[str, int]:
        db.session.expire_all()
        return {p.title: p.stock for p in db.session.scalars(select(Product))}

    assert stock() == {"Mug": 47, "Teapot": 49}
    assert ask(buyer, order, **{str(line["Mug"]): 2, str(line["Teapot"]): 1}).status_code == 302
    [made] = returns_of(order)
    csrf = {"X-CSRFToken": csrf_token(owner_client)}
    early = owner_client.post(f"/admin/api/returns/{made.id}/restock", headers=csrf)
    assert early.status_code == 409 and "only a refunded" in early.get_json()["error"]
    assert owner_client.post(f"/admin/api/returns/{made.id}/refund",
                             headers=csrf).status_code == 200
    assert stock() == {"Mug": 47, "Teapot": 49}, "a refund alone restocks nothing"
    orders_page = owner_client.get("/admin/orders").get_data(as_text=True)
    assert f'action="/admin/returns/{made.id}/restock"' in orders_page
    assert f"Put the 3 items of return {made.number} back in stock?" in orders_page

    from admin import audit  # noqa: PLC0415
    from checkout import returns  # noqa: PLC0415

    def restock() -> str:  # three owners at once, each with the panel's audit entry
        returns.restock(made.id, "owner@example.com", record=lambda r: audit.record(
            "return_restocked", "owner@example.com", target=r.number))
        return "restocked"

    answers = _at_once(app, restock, restock, restock)
    assert sorted(a.split(":")[0] for a in answers) == ["refused", "refused", "restocked"], \
        answers
    assert stock() == {"Mug": 49, "Teapot": 50}
    [made] = returns_of(order)
    assert made.restocked_by == "owner@example.com" and made.restocked_at is not None
    assert len(db.session.scalars(select(AdminAction).where(
        AdminAction.action == "return_restocked")).all()) == 1
    listed = owner_client.get("/admin/api/returns").get_json()["returns"][0]
    assert listed["restocked_at"] and listed["restocked_by"] == "owner@example.com"
    again = owner_client.post(f"/admin/returns/{made.id}/restock",
                              data={"csrf_token": csrf_token(owner_client)},
                              follow_redirects=True).get_data(as_text=True)
    assert "already back in stock" in again and "back in stock 20" in again
    assert stock() == {"Mug": 49, "Teapot": 50}


def _crosswise(app, *actions) -> list[str]:
    """Run the actions on threads of their own, each paused after its first product UPDATE
    until all have made theirs: each holds one product's row lock when it asks for the
    next, as two owners (or an owner and a buyer) at the same moment could."""
    from sqlalchemy import event  # noqa: PLC0415

    met, seen = threading.Barrier(len(actions)), threading.local()

    def pause(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE PRODUCTS") and not getattr(
                seen, "done", False):
            seen.done = True
            with contextlib.suppress(threading.BrokenBarrierError):
                met.wait(5)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", pause)
    try:
        return _at_once(app, *actions, start_together=False)
    finally:
        event.remove(engine, "after_cursor_execute", pause)


def test_stock_changes_take_products_in_one_order_so_none_deadlocks(
        app, shop_db, owner_client, localstripe, backend):  # noqa: F811
    """Two restocks of returns whose lines run Mug, Teapot and Teapot, Mug, and two paid
    orders taking the same products' stock the same crosswise way, all at once: each
    finishes (PostgreSQL aborted one with a deadlock, a 500 for its owner or buyer)."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer: no two transactions hold row locks")
    from checkout import payments, returns  # noqa: PLC0415
    from storefront.models import Product  # noqa: PLC0415

    mug = factories.product("Mug", price=1500, stock=50)
    pot = factories.product("Teapot", price=4000, stock=50)
    made = []
    for email, products in (("a@example.com", (mug, pot)), ("b@example.com", (pot, mug))):
        buyer, order = _delivered_to(app, localstripe, email, *((p, 1) for p in products))
        assert [line.name for line in order.lines] == [p.title for p in products]
        assert ask(buyer, order, **{str(line.id): 1 for line in order.lines}).status_code == 302
        [asked] = returns_of(order)
        assert owner_client.post(f"/admin/api/returns/{asked.id}/refund", headers={
            "X-CSRFToken": csrf_token(owner_client)}).status_code == 200
        made.append(asked.id)
    assert [p.stock for p in (mug, pot)] == [48, 48]

    def restock(return_id):
        return lambda: returns.restock(return_id, "owner").restocked_at is not None

    assert _crosswise(app, *(restock(r) for r in made)) == [True, True]
    orders = [db.session.scalar(select(Order).where(Order.email == e))
              for e in ("a@example.com", "b@example.com")]

    def take(order_id):
        def action():
            taken = payments._take_stock(db.session.get(Order, order_id))
            db.session.commit()
            return taken
        return action

    assert _crosswise(app, *(take(o.id) for o in orders)) == [True, True]
    db.session.expire_all()
    assert {p.title: p.stock for p in db.session.scalars(select(Product))} == {
        "Mug": 48, "Teapot": 48}
