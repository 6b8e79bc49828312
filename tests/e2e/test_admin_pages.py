"""What the panel's pages show an owner: the checkout step a shopper left at and who they
are, charts that can be read, recent journeys, readable timelines, review measures."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import expect
from sqlalchemy import insert, select

from admin.auth import create_user
from checkout import messages
from storefront.extensions import db, journey
from storefront.models import Product
from tracking.extension import utcnow
from tracking.models import journey_events

from .conftest import fill_guest_address, newest_journey, submit_admin_login

pytestmark = pytest.mark.e2e

PASSWORD = "owner-password-1"
PRODUCT = "/p/cast-iron-skillet-10-in"


def log_in(page, base: str) -> None:
    page.goto(base + "/admin/login")
    submit_admin_login(page, "owner@example.com", PASSWORD)


def to_the_delivery_step(live_store, page):
    """A guest puts the product in the cart and types their email and address."""
    page.goto(live_store.url + PRODUCT)
    page.get_by_role("button", name="Add to cart").click()
    expect(page).to_have_url(re.compile(r"/cart/$"))
    page.goto(f"{live_store.url}/checkout/address")
    fill_guest_address(page)
    page.get_by_role("button", name="Continue to delivery").click()
    page.wait_for_url(re.compile(r"/checkout/shipping$"))


def leave_at_the_payment_page(live_store, page):
    """A guest types their email and address, picks a delivery, opens the card form and
    goes; two hours on, the cart is abandoned."""
    to_the_delivery_step(live_store, page)
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(re.compile(r"/checkout/payment$"))
    row = newest_journey(live_store.app)
    later = utcnow() + timedelta(hours=2)
    with live_store.app.app_context():
        journey.sweep(later)
    return row, later.date().isoformat()


def test_abandonment_names_the_step_and_the_shopper(live_store, page):
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
    row, day = leave_at_the_payment_page(live_store, page)
    assert row.last_touchpoint == "page_view"  # the card form's page: no event of its own
    # `orders remind` an hour after the sweep, with Ada's email from the checkout
    reminded_at = utcnow() + timedelta(hours=3)
    with time_machine.travel(reminded_at, tick=False), live_store.app.app_context():
        sent = messages.remind(timedelta(minutes=30), timedelta(days=2))
        db.session.commit()
    assert sent == {"reminded": 1, "skipped": 0}
    log_in(page, live_store.url)
    page.goto(f"{live_store.url}/admin/abandonment?from={day}&to={day}")
    steps = page.locator("#step-chart")
    expect(steps).to_have_attribute("aria-label", re.compile(r"Left at the payment page: 1"))
    label = steps.get_attribute("aria-label")
    assert "page_view" not in label and "checkout_" not in label, label
    table = page.locator("#abandoned-table tbody")
    expect(table.locator("tr")).to_have_count(1)
    expect(table).to_contain_text("Ada Lovelace")
    expect(table.get_by_role("link", name="ada@example.com")).to_have_attribute(
        "href", "mailto:ada@example.com")
    expect(table).to_contain_text("Left at the payment page")
    expect(table).not_to_contain_text("Visitor")
    # What was left, in money: here the one cart's value
    left = page.locator('[data-kpi="abandoned_value"]')
    expect(left).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    left_value = left.inner_text()
    assert left_value != "$0.00"
    expect(table).to_contain_text(left_value)
    # The reminder is on the cart's row, and counted among the reminded carts
    expect(page.locator("[data-reminders-summary]")).to_have_text(
        "Reminded: 0 of 1 bought later (0%). Not reminded: 0 of 0 bought later (—).")
    expect(page.locator("#reminders-chart")).to_have_attribute(
        "aria-label", re.compile(r"Reminded: 0 of 1 bought later"))

    # The funnel offers "Who stopped" where someone did, and nowhere else. It counts
    # journeys by the day they started, which two hours before the sweep may be the day
    # before the abandonment's (after 22:00 UTC)
    started = row.started_at.date().isoformat()
    page.goto(f"{live_store.url}/admin/funnel?from={started}&to={day}")
    steps_rows = page.locator("#steps-table tbody tr")
    expect(steps_rows.first).to_contain_text("Landing")
    offered = []
    for i in range(steps_rows.count()):
        row_i = steps_rows.nth(i)
        stopped = row_i.locator("td").nth(3).inner_text()
        if row_i.get_by_role("button").count():
            offered.append(row_i.locator("th").inner_text())
            assert stopped != "0", row_i.inner_text()
    assert offered == ["Checkout"], offered  # the card form is the checkout stage's last page
    # The steps and their Who-stopped buttons fit their panel at 1280 px, no sideways scroll
    # (longer column names had pushed the buttons out of it)
    fits = page.locator("#steps-table").evaluate(
        "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert fits[0] <= fits[1], fits
    expect(page.locator("#campaign-table")).to_contain_text(
        "No journey in this period came from a link with a utm_campaign.")
    expect(page.locator("#source-table tbody tr").first.locator("td").nth(2)).to_have_text(
        re.compile(r"^\$[\d,]+\.\d\d$"))  # each source's revenue

    # On the owner's phone the rows are cards: the button, the cart's value and the link to
    # the journey on screen, not past a sideways scroll
    page.set_viewport_size({"width": 390, "height": 844})
    button = page.locator("#steps-table").get_by_role("button", name=re.compile("Who stopped"))
    box = button.bounding_box()
    assert box and box["x"] + box["width"] <= 390, box
    # A step nobody can stop at has no Drop-offs: no label beside nothing on the card
    blank = page.locator("#steps-table td[data-blank]")
    assert blank.count() >= 1 and all(not b.is_visible() for b in blank.all())
    page.goto(f"{live_store.url}/admin/abandonment?from={day}&to={day}")
    expect(table.locator("tr")).to_have_count(1)
    for shown in (table.get_by_role("link", name="Explore"), table.get_by_text(left_value)):
        box = shown.bounding_box()
        assert box and box["x"] + box["width"] <= 390, box
    page.set_viewport_size({"width": 1280, "height": 800})

    # A typed address is one recipient: no "?bcc=" smuggled into the owner's mail.
    assert page.evaluate("mailto('a?bcc=eve%40evil.example&x@example.com')") == (
        "mailto:a%3Fbcc%3Deve%2540evil.example%26x@example.com")
    # The spreadsheet of the period on screen, downloaded as the owner would.
    link = page.get_by_role("link", name="Download all as CSV")
    expect(link).to_have_attribute("href", f"/admin/abandonment.csv?from={day}&to={day}")
    with page.expect_download() as download:
        link.click()
    saved = download.value
    assert saved.suggested_filename == f"abandoned-{day}-to-{day}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(saved.path()).read_text("utf-8-sig"))))
    assert [(r["name"], r["email"], r["left_at"]) for r in rows] == [
        ("Ada Lovelace", "ada@example.com", "Left at the payment page")]

    # The journey says who it was, and its order links to the order.
    table.get_by_role("link", name="Explore").click()
    facts = page.locator("[data-facts]")
    customer = facts.locator("div", has=page.locator("dt", has_text="Customer")).locator("dd")
    expect(customer).to_contain_text("Ada Lovelace")
    expect(customer).to_contain_text("ada@example.com")  # not "Guest" alone
    order = facts.get_by_role("link", name=re.compile(r"^TP-\d{6}$"))
    number = order.inner_text()
    order.click()
    expect(page).to_have_url(re.compile(r"/admin/orders\?order=\d+$"))
    expect(page.locator("#orders-table tbody tr")).to_have_count(1)
    expect(page.locator("#orders-table tbody")).to_contain_text(number)


def test_overview_trend_puts_orders_on_a_scale_of_their_own_and_funnel_counts(live_store,
                                                                              page):
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
    log_in(page, live_store.url)
    page.wait_for_function("""() => window.Chart
        && Chart.getChart(document.getElementById('trend-chart'))
        && Chart.getChart(document.getElementById('trend-orders-chart'))
        && Chart.getChart(document.getElementById('trend-revenue-chart'))
        && Chart.getChart(document.getElementById('funnel-chart'))""")
    read = """() => ['trend-chart', 'trend-orders-chart', 'trend-revenue-chart'].map((id) => {
        const canvas = document.getElementById(id);
        const c = Chart.getChart(canvas);
        const s = c.options.scales;
        const last = c.data.labels.length - 1;
        return {datasets: c.data.datasets.map((d) => [d.label, d.yAxisID || 'y', d.tension,
                                                      d.cubicInterpolationMode || null]),
                axes: Object.keys(s).sort(),
                titles: ['x', 'y'].map((k) => s[k].title.display ? s[k].title.text : null),
                hollow: c.data.datasets.map((d) => d.pointBackgroundColor[last]),
                dotted: c.data.datasets.map((d) => d.segment.borderDash({p1DataIndex: last})),
                tip: c.options.plugins.tooltip.callbacks.title(
                    [{dataIndex: last, label: c.data.labels[last], chart: c}]),
                said: canvas.getAttribute('aria-label')};
    })"""
    journeys, orders, revenue = page.evaluate(read)
    # One scale a chart: the journeys (thousands) above, the orders and carts (tens) below,
    # where two scales on one chart had put them level
    assert [d[0] for d in journeys["datasets"]] == ["Journeys started"], journeys
    # The tracked purchases are drawn over the orders line (equal when all are tracked)
    assert [d[0] for d in orders["datasets"]] == ["Purchases, tracked", "Orders, all paid",
                                                  "Abandoned carts"], orders
    assert [d[0] for d in revenue["datasets"]] == ["Revenue, all paid"], revenue
    for drawn in (journeys, orders, revenue):
        assert drawn["axes"] == ["x", "y"], drawn
        assert all(axis == "y" and t == 0 and mode in (None, "default")
                   for _, axis, t, mode in drawn["datasets"]), drawn
        assert drawn["titles"][1], drawn["titles"]
        # The period ends today: today is so far, a hollow point on a dotted line
        assert set(drawn["hollow"]) == {"#fff"}, drawn
        assert all(dash == [2, 3] for dash in drawn["dotted"]), drawn
        assert drawn["tip"].endswith(", so far"), drawn
        assert "so far" in drawn["said"], drawn["said"]
    assert "Journeys" in journeys["titles"][1] and "per day" in orders["titles"][1]
    # The day axis named once, under the lowest chart (the three share it)
    assert [journeys["titles"][0], orders["titles"][0]] == [None, None]
    assert revenue["titles"][0] == "Day (UTC)" and "Revenue" in revenue["titles"][1]
    labels = page.evaluate("""() => Chart.getChart(document.getElementById('funnel-chart'))
        .data.labels.map((l) => [].concat(l).join(' | '))""")
    assert len(labels) == 6
    # Each stage's count on its first line, and two lines at most (more ran into the next)
    assert all(re.match(r"\w+ · [\d,]+( \| |$)", label) for label in labels), labels
    assert all(label.count(" | ") <= 1 for label in labels), labels
    funnel = page.evaluate("""() => {
        const c = Chart.getChart(document.getElementById('funnel-chart'));
        return {title: c.options.scales.x.title.text, ticks: c.scales.y.ticks.length};
    }""")
    assert funnel["title"] and funnel["ticks"] == 6, funnel  # no stage's label skipped

    # A period that is over has no partial day: every point solid, no "so far"
    page.goto(live_store.url + "/admin/?from=2026-01-01&to=2026-01-07")
    page.wait_for_function("""() => window.Chart && (() => {
        const c = Chart.getChart(document.getElementById('trend-orders-chart'));
        return c && c.data.labels.length === 7;
    })()""")
    for drawn in page.evaluate(read):
        assert "#fff" not in drawn["hollow"] and [2, 3] not in drawn["dotted"], drawn
        assert not drawn["tip"].endswith("so far") and "so far" not in drawn["said"], drawn

    # Today, hourly: the whole day on the axis, the hours to come empty (not zeros), the
    # hour under way hollow; the legend draws each line's own stroke
    page.get_by_role("button", name="Today").click()
    page.wait_for_function("""() => {
        const c = Chart.getChart(document.getElementById('trend-chart'));
        return c && c.data.labels.length === 24;
    }""")
    today = page.evaluate("""() => {
        const c = Chart.getChart(document.getElementById('trend-orders-chart'));
        const d = c.data.datasets[1];
        return {hour: new Date().getUTCHours(), at: d.partialAt, data: d.data,
                hollow: d.pointBackgroundColor[d.partialAt],
                legend: c.options.plugins.legend.labels.pointStyle};
    }""")
    assert today["at"] == today["hour"] and today["hollow"] == "#fff", today
    assert all(v is not None for v in today["data"][:today["hour"] + 1]), today
    assert all(v is None for v in today["data"][today["hour"] + 1:]), today
    assert today["legend"] == "line"

    # On a phone the axes' titles were cut off ("ders and abandoned carts"): the legend
    # names the lines there instead
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_store.url + "/admin/")
    page.wait_for_function("() => window.Chart"
                           " && Chart.getChart(document.getElementById('trend-orders-chart'))")
    shown = page.evaluate("""() => ['trend-chart', 'trend-orders-chart', 'trend-revenue-chart']
      .map((id) => {
        const s = Chart.getChart(document.getElementById(id)).options.scales;
        return [s.x.title.display, s.y.title.display];
    })""")
    assert shown == [[False, False]] * 3, shown


def test_the_journey_explorer_opens_on_the_latest_journeys(live_store, page):
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
    page.goto(live_store.url + PRODUCT)  # a journey of this browser's
    row = newest_journey(live_store.app)
    log_in(page, live_store.url)
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Journeys").click()
    results = page.locator("#results")
    expect(results).to_be_visible()
    expect(results.get_by_role("heading", level=2)).to_contain_text("Recent journeys")
    first = page.locator("#results-table tbody tr").first
    expect(first.get_by_role("link", name=f"…{row.id[-8:]}")).to_be_visible()
    expect(page.locator("#results-table thead")).to_contain_text("Last seen")
    expect(first).to_contain_text("Browse")
    # A search still replaces them, and the journey opens from the list.
    first.get_by_role("link", name=f"…{row.id[-8:]}").click()
    expect(page.locator("[data-detail-title]")).to_contain_text(row.id)
    # The latest of a stage and a status: none abandoned at checkout yet, this browser's
    # journey at Browse; the filters are in the address, for a link or the back button
    page.get_by_label("Furthest stage").select_option("checkout")
    page.get_by_label("Status").select_option("abandoned")
    expect(page.locator("[data-results-count]")).to_contain_text("abandoned at checkout")
    expect(page.locator("#results-table tbody")).to_have_text("No journey abandoned at checkout.")
    assert "stage=checkout" in page.url and "status=abandoned" in page.url
    page.get_by_label("Furthest stage").select_option("browse")
    page.get_by_label("Status").select_option("")
    expect(page.locator("[data-results-count]")).to_contain_text("furthest at browse")
    expect(page.locator("#results-table tbody tr").first.get_by_role(
        "link", name=f"…{row.id[-8:]}")).to_be_visible()
    page.go_back()  # the two filters before
    expect(page.locator("#journey-stage")).to_have_value("browse")
    expect(page.locator("#journey-status")).to_have_value("abandoned")


def test_the_timeline_reads_as_words_not_raw_properties(live_store, page):
    """product_id 7 is the product's name, linked to its page; delivery_seconds 50.375946
    a duration; endpoint checkout.shipping_step the page's name. Money stays formatted."""
    to_the_delivery_step(live_store, page)
    row = newest_journey(live_store.app)
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
        product = db.session.scalar(select(Product).where(
            Product.slug == PRODUCT.removeprefix("/p/")))
        with journey.state(live_store.app).engine.begin() as conn:  # the courier's scan
            conn.execute(insert(journey_events).values(
                event_id=uuid.uuid4().hex, journey_id=row.id, visitor_id=row.visitor_id,
                session_id=None, touchpoint="delivered", stage="delivered",
                occurred_at=utcnow(), props={"order_ref": "7", "delivery_seconds": 50.375946}))
    log_in(page, live_store.url)
    page.goto(f"{live_store.url}/admin/journeys?journey={row.id}")
    timeline = page.locator("[data-timeline]")
    # Each touchpoint in words, its name beside (small) for whoever wrote the tracking
    viewed = timeline.locator("li", has=page.locator("strong", has_text="Viewed a product"))
    expect(viewed.locator(".tl-name")).to_have_text("product_view")
    link = viewed.get_by_role("link", name=product.title)
    expect(link).to_have_attribute("href", PRODUCT)
    expect(viewed).not_to_contain_text(f"product_id{product.id}")
    expect(timeline).to_contain_text("Checkout: delivery")
    expect(timeline).not_to_contain_text("checkout.shipping_step")
    delivered = timeline.locator("li", has=page.locator("strong", has_text="Delivered"))
    expect(delivered).to_contain_text("orderTP-000007")
    expect(delivered).to_contain_text("delivered in50s")
    expect(delivered).not_to_contain_text("50.375946")
    expect(timeline).to_contain_text("$34.99")  # money, formatted as before


def test_the_two_review_measures_are_named_apart_and_explained(live_store, page):
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
    log_in(page, live_store.url)
    page.goto(live_store.url + "/admin/reviews")
    kpi = page.locator(".kpi", has=page.locator("dt", has_text="Delivered orders reviewed"))
    expect(kpi.locator("[data-kpi-note]")).to_have_text(
        re.compile(r"^\d+ of \d+ delivered in the period$"))
    expect(page.get_by_text("Review rate")).to_have_count(0)
    expect(page.locator("#reviewed-hint")).to_be_visible()
    expect(page.locator("#reviewed-hint")).to_contain_text("funnel’s “Reviewed” step")
    # A period, as on the other pages: one with no reviews says so.
    page.goto(live_store.url + "/admin/reviews?from=2020-01-01&to=2020-01-31")
    expect(page.locator("[data-recent]")).to_have_text("No reviews in this period.")
    expect(page.locator('[data-kpi="reviews"]')).to_have_text("0")
    expect(page.locator('[data-period-label]').first).to_contain_text("2020")
    page.goto(live_store.url + "/admin/funnel")
    expect(page.get_by_text("journey review rate")).to_be_visible()


def test_a_period_the_panel_cannot_show_is_said_and_never_labels_other_figures(
        live_store, page):
    """A range across a new year names both years; a link with a period over the limit says
    so and shows the last 7 days (not tables left "Loading…"); picking one keeps the figures
    on screen under their own label."""
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
    log_in(page, live_store.url)
    page.goto(live_store.url + "/admin/funnel?from=2025-12-20&to=2026-01-10")
    label = page.locator("[data-period-label]").first
    expect(label).to_have_text("Dec 20, 2025 – Jan 10, 2026")
    expect(page.locator("#steps-table tbody")).to_contain_text("Landing")

    page.goto(live_store.url + "/admin/funnel?from=2020-01-01&to=2026-01-10")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Choose a period of at most 366 days. Showing the last 7 days.")
    expect(page.locator("#steps-table tbody")).to_contain_text("Landing")
    expect(page.locator("#steps-table tbody")).not_to_contain_text("Loading")
    shown = label.inner_text()
    assert "2020" not in shown and "from=2020" not in page.url

    page.locator("#period-from").fill("2019-01-01")
    page.locator("#period-from").dispatch_event("change")
    expect(alert).to_contain_text("Choose a period of at most 366 days.")
    page.wait_for_timeout(600)  # the picker waits out typing before it applies a change
    expect(label).to_have_text(shown)
    # The API says why, in words, for a script as for the page.
    answer = page.request.get(live_store.url + "/admin/api/funnel?from=2020-01-01&to=2026-01-10")
    assert answer.status == 400
    assert answer.json()["errors"] == {"to": ["a period is at most 366 days long."]}


def test_an_order_left_at_3d_secure_keeps_its_cancel_once_the_rows_are_drawn_again(
        live_store, localstripe, page):
    """The orders table is drawn again by the page's script as it loads (and after each
    step): the Cancel of an order whose shopper never finished 3-D Secure stays, and works."""
    from checkout.models import Order  # noqa: PLC0415
    from tests.support import CARD_3DS, Shopper  # noqa: PLC0415

    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
        skillet = db.session.scalar(select(Product).where(Product.slug == PRODUCT[3:]))
        buyer = Shopper(live_store.app.test_client(), localstripe)
        buyer.add_to_cart(skillet.id)
        buyer.to_payment()
        assert buyer.pay(CARD_3DS).get_json()["status"] == "requires_action"
        number = db.session.scalars(select(Order).order_by(Order.id.desc())).first().number
    log_in(page, live_store.url)
    page.set_viewport_size({"width": 390, "height": 844})  # the owner's phone: rows are cards
    page.goto(live_store.url + "/admin/orders")
    page.wait_for_load_state("networkidle")  # the script's own drawing of the rows
    row = page.locator("#orders-table tbody tr", has_text=number)
    expect(row).to_contain_text("Requires action")
    expect(row.locator('td[data-label="Payment"]')).to_be_visible()
    cancel = row.get_by_role("button", name=re.compile("^Cancel"))
    cancel.scroll_into_view_if_needed()
    box = cancel.bounding_box()
    assert box and box["x"] + box["width"] <= 390, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    cancel.click()
    expect(page.get_by_role("status")).to_contain_text(f"Order {number} is canceled")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#orders-table tbody tr", has_text=number)).to_contain_text("Failed")
