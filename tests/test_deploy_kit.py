"""deploy/ agrees with itself and with the app: the systemd unit's start-up steps run, its
sandbox lets the app write where it writes, Prometheus scrapes the port gunicorn binds, and
each dashboard panel shows one unit. (promtool and a real Prometheus: tests/test_ops.py.)"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .support import ROOT, STORE_SECRET_KEY

DEPLOY = ROOT / "deploy"
APP_HOME = "/srv/touchpoint"  # the unit's WorkingDirectory, where the code is installed


def service(name: str = "touchpoint.service") -> dict[str, list[str]]:
    """A unit's [Service] settings: a key given several times keeps every value."""
    settings: dict[str, list[str]] = {}
    section = None
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def environment(settings: dict[str, list[str]]) -> dict[str, str]:
    return dict(word.split("=", 1) for line in settings.get("Environment", [])
                for word in shlex.split(line))


def is_under(path: str, directories: set[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in directories)


def test_the_unit_makes_every_directory_the_app_writes_and_lets_it_write_there():
    settings = service()
    env = environment(settings)
    made_at_start = {f"/run/{d}" for line in settings["RuntimeDirectory"] for d in line.split()}
    state = {f"/var/lib/{d}" for line in settings["StateDirectory"] for d in line.split()}
    writable = {p.lstrip("-") for line in settings["ReadWritePaths"] for p in line.split()}
    assert settings["ProtectSystem"] == ["strict"], "the premise: all else is read-only"
    # prometheus_client opens its files there from the first metric made: it must exist.
    assert env["PROMETHEUS_MULTIPROC_DIR"] in made_at_start, (env, made_at_start)
    assert is_under(env["JOURNEY_SPOOL_DIR"], state), (env, state)
    for name in ("PROMETHEUS_MULTIPROC_DIR", "JOURNEY_SPOOL_DIR"):
        assert is_under(env[name], writable), (name, env[name], writable)


def _migration_step(tmp_path, **extra_env) -> subprocess.CompletedProcess:
    """ExecStartPre, as the unit gives it, with the unit's environment on a SQLite shop."""
    settings = service()
    (command,) = settings["ExecStartPre"]
    venv_bin = str(Path(sys.executable).parent)
    argv = [word.replace(f"{APP_HOME}/.venv/bin", venv_bin) for word in shlex.split(command)]
    env = {**environment(settings), "PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "run" / "prometheus"),
           "JOURNEY_SPOOL_DIR": str(tmp_path / "journey-spool"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}", "SECRET_KEY": STORE_SECRET_KEY,
           **extra_env}
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_units_migration_step_runs_without_the_metrics_directory(tmp_path):
    """With a metrics directory that does not exist: it migrates, and writes no metric
    file."""
    done = _migration_step(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "shop.db").stat().st_size > 0
    assert not (tmp_path / "run" / "prometheus").exists()


def test_a_tracker_database_that_does_not_answer_does_not_keep_the_store_down(tmp_path):
    """The tracker's own database down at a (re)start: the unit's migration step migrates
    the shop's and leaves the tracker's side for the next start, where a plain upgrade
    fails, so gunicorn starts and the store sells (its events wait in the spool)."""
    closed = "postgresql://postgres@127.0.0.1:1/journeys"  # nothing listens on port 1
    done = _migration_step(tmp_path, JOURNEY_DATABASE_URL=closed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The tracker's database does not answer (OperationalError)" in done.stderr
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    assert {"orders", "alembic_version"} <= tables and "journeys" not in tables
    plain = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SECRET_KEY": STORE_SECRET_KEY,
             "DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}",
             "JOURNEY_DATABASE_URL": closed,
             "JOURNEY_SPOOL_DIR": str(tmp_path / "journey-spool")})
    assert plain.returncode != 0, "without journeys=optional a down database is an error"


def test_prometheus_scrapes_the_port_gunicorn_binds(tmp_path):
    port_of_unit = environment(service())["GUNICORN_BIND"].rsplit(":", 1)[1]
    # The config's own default, loaded as gunicorn loads it (on a metrics directory of ours).
    env = {k: v for k, v in os.environ.items() if k != "GUNICORN_BIND"}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(tmp_path), TOUCHPOINT_METRICS_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", "import runpy; print(runpy.run_path("
         "'deploy/gunicorn.conf.py')['bind'])"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    port_of_config = done.stdout.strip().rsplit(":", 1)[1]
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "touchpoint"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets and {t.rsplit(":", 1)[1] for t in targets} == {port_of_unit}
    assert port_of_config == port_of_unit


def test_the_apps_log_lines_under_gunicorn_have_a_time_a_pid_and_a_level(tmp_path):
    """The tracker's and the store's lines, as gunicorn's own: not the bare message Python
    prints without a handler (journald adds a time, never the level)."""
    import re

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
           "TOUCHPOINT_METRICS_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", "import logging, runpy; runpy.run_path('deploy/gunicorn.conf.py'"
         "); runpy.run_path('deploy/gunicorn.conf.py')"  # SIGHUP reads it again: one handler
         "; logging.getLogger('tracking.writer').warning('database unavailable'); "
         "logging.getLogger('tracking').info('replayed 3 events'); "
         "logging.getLogger('tracking').debug('not shown'); "
         "logging.getLogger('stripe').info('Request to Stripe api: not shown')"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    stamp = r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] "
    assert re.match(stamp + r"\[WARNING\] tracking.writer: database unavailable$", lines[0])
    assert re.match(stamp + r"\[INFO\] tracking: replayed 3 events$", lines[1])
    assert len(lines) == 2


def test_the_metrics_directory_is_emptied_of_metric_files_and_nothing_else(tmp_path):
    """A previous run's metric files go at start (they would be summed into today's
    counters); a directory that holds anything else is not the store's to empty (a typo
    for the spool's, a second store's name): gunicorn refuses to start and deletes
    nothing."""
    def start(directory):
        env = {k: v for k, v in os.environ.items() if k != "TOUCHPOINT_METRICS_DIR"}
        return subprocess.run(
            [sys.executable, "-c", "import runpy; runpy.run_path('deploy/gunicorn.conf.py')"],
            cwd=ROOT, env={**env, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
            capture_output=True, text=True, timeout=60)

    stale = tmp_path / "metrics"
    stale.mkdir()
    old = ("counter_123.db", "gauge_livesum_123.db", "histogram_archive.db", "archive.lock",
           "counter_77.merging", "summary_archive.ready", "counter_archive.new")
    for name in old:
        (stale / name).write_bytes(b"x")
    done = start(stale)
    assert done.returncode == 0, done.stderr
    assert list(stale.iterdir()) == []

    shared = tmp_path / "shared"
    (shared / "journey-spool").mkdir(parents=True)
    (shared / "counter_5.db").write_bytes(b"x")
    (shared / "orders.csv").write_text("keep me")
    done = start(shared)
    assert done.returncode != 0
    assert "holds 2 entries that are not metric files" in done.stderr, done.stderr
    assert "'journey-spool'" in done.stderr
    assert sorted(p.name for p in shared.iterdir()) == ["counter_5.db", "journey-spool",
                                                        "orders.csv"]


def panels() -> list[dict]:
    return json.loads((DEPLOY / "grafana" / "touchpoint.json").read_text())["panels"]


def test_every_dashboard_panel_shows_one_unit():
    for panel in panels():
        exprs = [t["expr"] for t in panel.get("targets", [])]
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        byte_metrics = [e for e in exprs if re.search(r"\w+_bytes\b", e)]
        if byte_metrics:  # bytes beside a count of events would share one axis
            assert unit == "bytes" and byte_metrics == exprs, panel["title"]
        if any("currency" in e for e in exprs):  # several currencies: no one sign for all
            assert not (unit or "").startswith("currency"), panel["title"]
    revenue = next(p for p in panels() if p["title"] == "Revenue and refunds")
    assert revenue["fieldConfig"]["defaults"]["unit"] == "none"


def test_dashboard_time_series_are_rates_over_an_interval_not_the_whole_range():
    """A time series point over [$__range] repeats the whole dashboard's window at every
    point: a stat or a bar gauge may sum the range, a time series may not."""
    for panel in panels():
        if panel["type"] == "timeseries":
            for target in panel["targets"]:
                assert "$__range" not in target["expr"], (panel["title"], target["expr"])


@pytest.mark.parametrize("unit, command, every", [("expire", "expire", "hourly"),
                                                  ("remind", "remind", "hourly"),
                                                  ("mail", "send-mail", "minutely")])
def test_the_timers_run_their_command_as_the_store_does(tmp_path, unit, command, every):
    """touchpoint-expire, touchpoint-remind and touchpoint-mail: the store's user, code,
    secrets and spool, on their timers, and the command the README names (here run, against
    a migrated SQLite shop, as the unit gives it; the mail one with a mail server to reach).
    Units of their own: one failing does not stop the others."""
    store, job = service(), service(f"touchpoint-{unit}.service")
    for key in ("User", "Group", "WorkingDirectory", "EnvironmentFile"):
        assert job[key] == store[key], key
    assert environment(job)["JOURNEY_SPOOL_DIR"] == environment(store)["JOURNEY_SPOOL_DIR"]
    assert f"OnCalendar={every}" in (DEPLOY / f"touchpoint-{unit}.timer").read_text()
    assert _migration_step(tmp_path).returncode == 0
    (line,) = job["ExecStart"]
    venv_bin = str(Path(sys.executable).parent)
    metrics_dir = environment(store)["PROMETHEUS_MULTIPROC_DIR"]
    ours = tmp_path / "run" / "prometheus"  # the store's metrics directory, here
    argv = [word.replace(f"{APP_HOME}/.venv/bin", venv_bin).replace(metrics_dir, str(ours))
            for word in shlex.split(line)]
    assert shlex.split(argv[-1])[-3:] == ["wsgi", "orders", command] if argv[0] == "/bin/sh" \
        else argv[-3:] == ["wsgi", "orders", command]
    env = {**environment(job), "PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "JOURNEY_SPOOL_DIR": str(tmp_path / "journey-spool"), "SECRET_KEY": STORE_SECRET_KEY,
           "STORE_URL": "https://shop.example.com", "PROMETHEUS_MULTIPROC_DIR": str(ours),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}"}

    def run() -> subprocess.CompletedProcess:
        with contextlib.ExitStack() as stack:
            if unit == "mail":
                from .test_mail import Inbox, SMTPServer

                server = SMTPServer(Inbox())
                stack.callback(server.stop)
                env.update(MAIL_URL=server.url(), MAIL_FROM="Shop <shop@example.com>")
            return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=120)

    # The store stopped: its metrics directory is not there, and is not made
    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert not ours.exists()
    if unit != "expire":
        return
    # The store running: expire counts into its directory, and leaves only the archive
    ours.mkdir(parents=True)
    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert {p.name for p in ours.glob("*.db")} == {"counter_archive.db", "histogram_archive.db"}
    writable = {p for line in job["ReadWritePaths"] for p in line.split()}
    assert f"-{metrics_dir}" in writable, writable  # "-": not there while the store is stopped
