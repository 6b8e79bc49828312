"""The overview keeps itself current without a reload, for the period the owner chose."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert, update

from admin.auth import create_user
from checkout.models import Order
from storefront.extensions import db
from tracking.extension import utcnow
from tracking.models import journeys

from .conftest import submit_admin_login

PASSWORD = "owner-password-1"
KPI = '[data-kpis="{}"] [data-kpi="{}"]'


def log_in(page, base: str, path: str = "/admin/") -> None:
    page.goto(base + path)
    expect(page).to_have_url(re.compile(r"/admin/login"))
    submit_admin_login(page, "owner@example.com", PASSWORD)


@pytest.mark.e2e
def test_kpis_funnel_and_trend_refresh_every_30_seconds_for_the_chosen_period(live_store,
                                                                               page):
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
    today = utcnow().date()
    start = (today - timedelta(days=29)).isoformat()
    page.clock.install()  # the panel's timers run when the test says so
    log_in(page, live_store.url)
    page.goto(f"{live_store.url}/admin/?from={start}&to={today.isoformat()}")
    orders_today = page.locator(KPI.format("today", "orders"))
    expect(orders_today).to_have_text("0")  # the seeded orders were paid weeks ago
    expect(page.locator("#period-from")).to_have_value(start)
    page.evaluate("""() => {
        window.__notReloaded = true;
        window.__blanks = 0;  // a figure emptied while refreshing would flicker
        const seen = new Map();
        const look = () => {
            for (const el of document.querySelectorAll('[data-kpi], [data-kpi-note]')) {
                const text = el.textContent;
                const before = seen.get(el);
                if (before && before !== '—' && (text === '—' || text === '')) {
                    window.__blanks += 1;
                }
                seen.set(el, text);
            }
        };
        look();
        new MutationObserver(look).observe(document.querySelector('main'),
                                           {subtree: true, childList: true, characterData: true});
    }""")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/admin/api/overview" in r.url else None)

    with live_store.app.app_context():  # an order is paid now
        db.session.execute(update(Order).where(Order.id == 1).values(paid_at=utcnow()))
        db.session.commit()
    page.clock.run_for(10_000)
    page.wait_for_timeout(500)
    expect(orders_today).to_have_text("0")  # not yet: the live box alone polls every 2 s
    page.clock.run_for(21_000)
    expect(orders_today).to_have_text("1", timeout=5_000)
    expect(page.locator(KPI.format("today", "revenue")).locator("xpath=..")
           .locator('[data-kpi-note]')).to_have_text(re.compile(r"in tracked journeys"))
    assert asked and all(f"from={start}&to={today.isoformat()}" in url for url in asked), asked
    expect(page.locator("#period-from")).to_have_value(start)
    assert page.evaluate("window.__notReloaded") is True
    assert page.evaluate("window.__blanks") == 0


@pytest.mark.e2e
def test_the_chosen_period_holds_across_the_panels_pages(live_store, page):
    """As GA4 and PostHog keep the date range across reports: 30 days chosen on the overview
    is still the period on the funnel and abandonment pages, reached by the nav, even by way
    of a page without a period (Orders)."""
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
    today = utcnow().date()
    start = (today - timedelta(days=29)).isoformat()
    log_in(page, live_store.url)
    page.get_by_role("button", name="30 days").click()
    expect(page).to_have_url(re.compile(rf"from={start}&to={today.isoformat()}"))
    nav = page.get_by_role("navigation", name="Admin sections")

    nav.get_by_role("link", name="Funnel").click()
    expect(page).to_have_url(re.compile(rf"/admin/funnel\?from={start}&to={today}"))
    expect(page.locator("#period-from")).to_have_value(start)
    expect(page.get_by_role("button", name="30 days")).to_have_attribute("aria-pressed", "true")

    nav.get_by_role("link", name="Orders").click()
    expect(page).to_have_url(re.compile(r"/admin/orders$"))
    nav.get_by_role("link", name="Abandonment").click()
    expect(page).to_have_url(re.compile(rf"/admin/abandonment\?from={start}&to={today}"))
    expect(page.locator("#period-from")).to_have_value(start)

    # Changed here, it holds on the way back; a typed-in address still wins.
    page.get_by_role("button", name="Today").click()
    nav.get_by_role("link", name="Overview").click()
    expect(page).to_have_url(re.compile(rf"/admin/\?from={today}&to={today}"))
    expect(page.locator("#period-from")).to_have_value(today.isoformat())
    # Today as the period: its tiles once (under Today), not the same ten twice
    expect(page.locator("[data-period-is-today]")).to_be_visible()
    expect(page.locator('[data-kpis="period"]')).to_be_hidden()
    expect(page.locator('[data-kpis="today"]')).to_be_visible()
    page.get_by_role("button", name="7 days").click()
    expect(page.locator('[data-kpis="period"]')).to_be_visible()
    expect(page.locator("[data-period-is-today]")).to_be_hidden()
    page.get_by_role("button", name="Today").click()
    page.goto(f"{live_store.url}/admin/funnel?from={start}&to={today}")
    expect(page.locator("#period-from")).to_have_value(start)
    page.goto(f"{live_store.url}/admin/abandonment")  # no period in the address: the kept one
    expect(page.locator("#period-from")).to_have_value(start)
    expect(page).to_have_url(re.compile(rf"from={start}&to={today}"))


@pytest.mark.e2e
def test_each_figure_says_how_it_moved_since_the_week_before(live_store, page):
    """GA4 and PostHog compare a range with the one before it; so does the overview: up or
    down, by how much and from what, green where that is better for the shop (fewer
    abandoned carts) and red where it is worse, in words too for a screen reader."""
    from tests.test_admin import journey_started

    today = utcnow().date()
    week = (today - timedelta(days=13), today - timedelta(days=7))  # over: compared whole
    at = lambda d: datetime.combine(d, datetime.min.time()) + timedelta(hours=12)  # noqa: E731
    with live_store.app.app_context():
        create_user("owner@example.com", PASSWORD)
        db.session.execute(update(Order).values(paid_at=utcnow() - timedelta(days=200)))
        db.session.execute(update(Order).where(Order.id.in_((1, 2)))
                           .values(paid_at=at(week[0] + timedelta(days=1))))
        db.session.execute(update(Order).where(Order.id == 3)
                           .values(paid_at=at(week[0] - timedelta(days=2))))
        db.session.commit()
        rows = [("cart", "abandoned", week[0]), ("checkout", "abandoned", week[1]),
                ("cart", "abandoned", week[0] - timedelta(days=3)),
                ("purchase", "purchased", week[0] - timedelta(days=1)),
                ("landing", "abandoned", week[0] - timedelta(days=30))]  # tracked since
        with live_store.app.extensions["journey"].engine.begin() as conn:
            conn.execute(insert(journeys), [journey_started(at(d), stage, status)
                                            for stage, status, d in rows])
    log_in(page, live_store.url)
    page.goto(f"{live_store.url}/admin/?from={week[0]}&to={week[1]}")
    period = page.locator('[data-kpis="period"]')
    orders = period.locator('[data-kpi-change="orders"]')
    expect(orders).to_have_text("▲ up 100% from 1, better")
    expect(orders).to_have_class(re.compile(r"\bbetter\b"))
    abandoned = period.locator('[data-kpi-change="cart_abandonment_rate"]')
    # 2 of 2 carts, 1 of 2 before
    expect(abandoned).to_have_text("▲ up 50.0 points from 50%, worse")
    expect(abandoned).to_have_class(re.compile(r"\bworse\b"))
    conversion = period.locator('[data-kpi-change="conversion_rate"]')
    expect(conversion).to_have_text("▼ down 50.0 points from 50%, worse")
    expect(conversion).to_have_class(re.compile(r"\bworse\b"))
    expect(period.locator('[data-kpi-change="visitors"]')).to_have_text("no change from 2")
    before = (week[0] - timedelta(days=7), week[0] - timedelta(days=1))
    expect(page.locator('[data-compared="period"]')).to_contain_text(
        f"{before[0].strftime('%b')} {before[0].day}")

    # The week the tracker began: its visitors were not counted the week before, not 0
    first = week[0] - timedelta(days=30)
    page.goto(f"{live_store.url}/admin/?from={first}&to={first + timedelta(days=6)}")
    expect(period.locator('[data-kpi-change="visitors"]')).to_have_text("not tracked then")
    expect(period.locator('[data-kpi-change="bounce_rate"]')).to_have_text("not tracked then")
    # the orders are the shop's, compared whatever the tracker saw (none then, nor now)
    expect(period.locator('[data-kpi-change="orders"]')).to_have_text("no change from 0")
    expect(period.locator('[data-kpi-change="average_order_value"]')).to_have_text("")
    expect(page.locator('[data-compared="period"]')).to_contain_text("orders only")
