"""The operations kit against the real tools: promtool checks the Prometheus config, the
alert rules and their unit tests; a real Prometheus scrapes the store under gunicorn after
simulated shoppers, and every expression of the Grafana dashboard and the rules is asked of
it: each parses, and every dashboard query and recording rule returns data."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from admin.auth import create_user
from checkout.simulator import PERSONAS, Persona, Simulation, SimulationConfig

from .support import ROOT, free_port, poll, store_for_shoppers, wait_for_port

DEPLOY = ROOT / "deploy"
ADMIN = ("ops@example.com", "ops-password-123")
# Grafana's variables, as the dashboard's default time range would fill them.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "10m"}
# Answers nothing until Prometheus holds 35 minutes and the hour has 5 carts.
UNDECIDED = {"touchpoint:cart_abandonment:ratio1h"}


def promtool(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("promtool")
    assert exe, "promtool missing: `make install` installs Debian's prometheus package"
    return subprocess.run([exe, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60)


def test_promtool_checks_the_config_the_rules_and_their_unit_tests():
    for args in (("check", "config", "prometheus.yml"), ("check", "rules", "alerts.yml"),
                 ("test", "rules", "alerts.test.yml")):
        done = promtool(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    tested = {line.split(":", 1)[1].strip() for line in
              (DEPLOY / "alerts.test.yml").read_text().splitlines()
              if line.strip().startswith("alertname:")}
    rules = _rules()
    alerts = {r["alert"] for r in rules if "alert" in r}
    assert len(alerts) >= 7 and alerts == tested, alerts ^ tested


def _rules() -> list[dict]:
    import yaml  # noqa: PLC0415 - PyYAML comes with schemathesis

    groups = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads((DEPLOY / "grafana" / "touchpoint.json").read_text())
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in GRAFANA_VARS.items():
                expr = expr.replace(name, value)
            found.append((panel["title"], expr))
    return found


class Prometheus:
    def __init__(self, target: str, tmp: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{DEPLOY / 'alerts.yml'}']\n"
            "scrape_configs:\n"
            "  - job_name: touchpoint\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n")
        self.log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [shutil.which("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, proc=self.proc, timeout=30)

    def query(self, expr: str) -> dict:
        return requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def start(target: str) -> Prometheus:
        started.append(Prometheus(target, tmp_path))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def test_every_dashboard_and_rule_expression_answers_from_a_real_prometheus(
        gunicorn, cli, localstripe, shop_db, prometheus, backend, request):
    if backend == "postgresql" and request.config.getoption("--db") == "both":
        pytest.skip("the queries do not depend on the database: run once")
    assert cli("seed", "--orders", "5").exit_code == 0
    create_user(*ADMIN)
    server = store_for_shoppers(gunicorn, localstripe, "whsec_ops", idle="3")
    prom = prometheus(server.url.removeprefix("http://"))
    truth = Simulation(SimulationConfig(
        base_url=server.url, shoppers=60, concurrency=6, seed=7, think=(0.0, 0.02),
        return_after=4.0, admin_email=ADMIN[0], admin_password=ADMIN[1],
        # The usual shoppers, and keen ones so that every panel has purchases to show.
        personas=(*PERSONAS, Persona("keen", 0.5, 0.0, (1, 2), 0.3, 0.9, 0.9, 0.9, 0.5)),
    )).run()
    assert truth["errors"] == [] and truth["purchases"] >= 1

    def abandoned_and_scraped():
        found = prom.query("sum(journey_abandoned_total)")
        values = found["data"]["result"] if found["status"] == "success" else []
        return values and float(values[0]["value"][1]) > 0

    assert poll(abandoned_and_scraped, timeout=60, interval=1.0), "Prometheus never saw it"
    time.sleep(3)  # a few more scrapes and rule evaluations

    problems = []
    for title, expr in _dashboard_queries():
        answer = prom.query(expr)
        if answer["status"] != "success":
            problems.append(f"dashboard {title!r}: {answer.get('error')}: {expr}")
        elif not answer["data"]["result"] and expr not in UNDECIDED:
            problems.append(f"dashboard {title!r}: no data: {expr}")
    for rule in _rules():
        answer = prom.query(rule["expr"])
        name = rule.get("record") or rule.get("alert")
        if answer["status"] != "success":
            problems.append(f"rule {name}: {answer.get('error')}")
        elif "record" in rule and not answer["data"]["result"] and name not in UNDECIDED:
            problems.append(f"rule {name}: no data")
    assert problems == [], "\n".join(problems)
    # The abandonment ratio has no value until the hour it reads has 5 carts (Prometheus
    # holds a minute here: promtool's unit test, deploy/alerts.test.yml, checks its value).
    carts = prom.query("touchpoint:carts:increase1h")["data"]["result"]
    assert float(carts[0]["value"][1]) < 5
    assert prom.query("touchpoint:cart_abandonment:ratio1h")["data"]["result"] == []

    loaded = requests.get(f"{prom.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    names = {r["name"] for g in loaded for r in g["rules"]}
    assert {r.get("record") or r.get("alert") for r in _rules()} <= names
    health = {r["name"]: r["health"] for g in loaded for r in g["rules"]}
    assert set(health.values()) == {"ok"}, health
