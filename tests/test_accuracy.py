"""Ground truth: 500 simulated shoppers against the store under gunicorn; the panel's JSON and
Prometheus must count exactly what the simulator did, stage by stage."""

from __future__ import annotations

import re

import pytest
import requests

from admin.auth import create_user
from checkout.simulator import STAGES, Simulation, SimulationConfig, format_truth

from .support import poll, store_for_shoppers, value

SHOPPERS = 500
ADMIN = ("owner@example.com", "owner-password-1")
FUNNEL = ("landing", "browse", "cart", "checkout", "payment", "purchase", "shipped",
          "delivered", "reviewed")


def admin_session(base: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{base}/admin/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = s.post(f"{base}/admin/login", data={"email": ADMIN[0], "password": ADMIN[1],
                                           "csrf_token": token}, timeout=10,
               allow_redirects=False)
    assert r.status_code == 302
    return s


def test_panel_and_prometheus_equal_the_simulators_ground_truth(gunicorn, cli, localstripe,
                                                                shop_db, artifacts_dir,
                                                                backend, request):
    # Once is enough for 90 seconds of shoppers: on PostgreSQL, the production database
    # (on SQLite when that is the only backend asked for: `--db sqlite`).
    if backend == "sqlite" and request.config.getoption("--db") == "both":
        pytest.skip("the accuracy run uses PostgreSQL when both databases are tested")
    assert cli("seed", "--orders", "20").exit_code == 0
    create_user(*ADMIN)
    server = store_for_shoppers(gunicorn, localstripe, "whsec_accuracy")
    simulation = Simulation(SimulationConfig(
        base_url=server.url, shoppers=SHOPPERS, concurrency=8, seed=20261122,
        think=(0.0, 0.05), return_after=6.5, admin_email=ADMIN[0], admin_password=ADMIN[1],
        return_rate=0.5,  # enough returns among the few purchases to count them
    ))
    truth = simulation.run()
    (artifacts_dir / "accuracy-ground-truth.txt").write_text(format_truth(truth) + "\n")
    assert truth["errors"] == []
    assert truth["shoppers"] == SHOPPERS and truth["purchases"] >= 3
    assert truth["recovered"] >= 1 and truth["declined_payments"] >= 1
    assert truth["returns"]["refunded"] + truth["returns"]["declined"] >= 1

    expected_abandoned = {s: truth["stages"][s]["abandoned"] for s in STAGES}

    def swept() -> str | None:
        text = server.metrics()
        done = all(value(text, "journey_abandoned_total", stage=s) == n
                   for s, n in expected_abandoned.items())
        return text if done else None

    text = poll(swept, timeout=60, interval=1.0) or server.metrics()

    # Prometheus, summed over both workers.
    for stage in FUNNEL:
        row = truth["stages"][stage]
        assert value(text, "journey_stage_entered_total", stage=stage) == row["reached"], stage
        assert value(text, "journey_abandoned_total", stage=stage) == row["abandoned"], stage
    assert value(text, "storefront_orders_total") == truth["purchases"]
    assert abs(value(text, "storefront_revenue_total", currency="USD")
               - truth["revenue"] / 100) < 1e-6
    assert value(text, "journey_recovered_total") == truth["recovered"]

    # The panel's JSON.
    admin = admin_session(server.url)
    funnel = admin.get(f"{server.url}/admin/api/funnel", timeout=30).json()
    assert {s["stage"]: s["journeys"] for s in funnel["steps"]} == {
        s: truth["stages"][s]["reached"] for s in FUNNEL}
    abandonment = admin.get(f"{server.url}/admin/api/abandonment", timeout=30).json()
    # The simulator's "abandoned" is every cart left idle; the panel's is those not bought
    # later, with the recovered ones beside them.
    assert {s["stage"]: s["journeys"] + s["recovered"] for s in abandonment["by_stage"]} == {
        s: truth["stages"][s]["abandoned"] for s in ("cart", "checkout", "payment")}
    assert abandonment["recovered"] == truth["recovered"]
    assert abandonment["abandoned"] == sum(s["journeys"] for s in abandonment["by_stage"])
    assert {s["stage"]: s["journeys"] for s in abandonment["by_stage"]} == {
        s["stage"]: s["dropped"] for s in funnel["steps"]
        if s["stage"] in ("cart", "checkout", "payment")}
    overview = admin.get(f"{server.url}/admin/api/overview", timeout=30).json()
    assert overview["kpis"]["journeys"] == truth["journeys"]
    assert overview["kpis"]["orders"] == truth["purchases"]
    assert overview["kpis"]["revenue"] == truth["revenue"]
    assert overview["kpis"]["bounce_rate"] == round(
        truth["stages"]["landing"]["abandoned"] / truth["journeys"], 4)

    # Returns: the panel's, the refunds counter and the touchpoints, as the buyers made them
    # (the seeded orders have none).
    returns = admin.get(f"{server.url}/admin/api/returns", timeout=30).json()
    assert returns["counts"] == {**truth["returns"], "refunding": 0}
    assert sum(1 for r in returns["returns"] if r["restocked_at"]) == truth["restocked"]
    assert abs(value(text, "storefront_refunds_total", currency="USD")
               - truth["refunded"] / 100) < 1e-6
    assert value(text, "journey_touchpoints_total", touchpoint="return_requested") == sum(
        truth["returns"].values())
    assert value(text, "journey_touchpoints_total", touchpoint="order_refunded") == \
        truth["returns"]["refunded"]
