"""`make demo` (scripts/demo.py) started and stopped the way a person does: Ctrl-C in the
terminal, then again. Real processes: the store under gunicorn, localstripe, the trickling
shoppers, on ports of their own and a database in a temporary directory."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .support import ROOT, free_port, poll

RUNNING = "Touchpoint demo is running."


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from the kernel's list of each task's children (as
    test_metrics reads a gunicorn master's workers)."""
    found, todo = set(), [pid]
    while todo:
        for children in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                listed = children.read_text().split()
            except OSError:  # the task ended meanwhile
                continue
            for child in map(int, listed):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command's name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _started(pid: int) -> str | None:
    """When the process started (clock ticks since boot): with the pid, who it is."""
    fields = _stat(pid)
    return fields[19] if fields else None


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Demo:
    """scripts/demo.py as `make demo` runs it, leading its own process group as a shell
    makes a foreground job: a Ctrl-C is a SIGINT to that whole group."""

    def __init__(self, tmp: Path, run: int):
        self.store_port, self.stripe_port, self.mail_port = free_port(), free_port(), free_port()
        self.output = tmp / f"demo-{run}.out"
        env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("JOURNEY_", "PROMETHEUS_", "GUNICORN_"))},
            "PORT": str(self.store_port), "LOCALSTRIPE_PORT": str(self.stripe_port),
            "DEMO_DIR": str(tmp / "demo"), "DATABASE_URL": f"sqlite:///{tmp / 'shop.db'}",
            "DEMO_RATE": "4", "JOURNEY_SPOOL_DIR": str(tmp / "spool"),
            "DEMO_EXPIRE_EVERY": "2",  # `orders expire`, every 3 minutes by default
            "MAIL_PORT": str(self.mail_port), "DEMO_MAIL_EVERY": "2",
        }
        self.seen: dict[int, str | None] = {}  # pid -> when it started
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "demo.py")],
                                         cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, process_group=0)

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_running(self) -> None:
        if not poll(lambda: RUNNING in self.text() or self.proc.poll() is not None,
                    timeout=180, interval=0.5) or self.proc.poll() is not None:
            pytest.fail(f"the demo did not start:\n{self.text()[-3000:]}")

    def children(self) -> set[int]:
        """Every process below the demo; remembered, so that cleanup finds them even if
        the demo has exited and left them to init."""
        for pid in _descendants(self.proc.pid):
            self.seen.setdefault(pid, _started(pid))
        return set(self.seen)

    def ctrl_c(self) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(120)  # the demo itself gives its processes 30 s in all

    def kill(self) -> None:
        """Whatever is left, after a failure; only the processes seen, never a later one
        that was given a pid of theirs."""
        if self.proc.poll() is None:
            self.children()
            self.proc.kill()
        for pid, started in self.seen.items():
            if _alive(pid) and _started(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _journeys(tmp: Path) -> int:
    """Journey events stored by the demo's store (the tracker's file beside the shop's)."""
    with contextlib.closing(sqlite3.connect(tmp / "shop-journeys.db")) as conn:
        return conn.execute("SELECT count(*) FROM journey_events").fetchone()[0]


def test_ctrl_c_stops_every_process_it_started_and_the_demo_starts_again(tmp_path):
    first = Demo(tmp_path, 1)
    try:
        first.wait_running()
        assert requests.get(f"http://127.0.0.1:{first.store_port}/", timeout=10).status_code == 200
        # The shoppers are arriving: the store stores their journeys while we watch.
        assert poll(lambda: _journeys(tmp_path) >= 20, timeout=60), first.text()[-3000:]
        started = first.children()
        assert len(started) >= 6, started  # localstripe, mail, gunicorn + 2 workers, shoppers
        # Orders stuck at 3-D Secure expire as in production, where cron runs the job.
        expired = tmp_path / "demo" / "orders-expire.log"
        assert poll(lambda: expired.exists() and "orders canceled" in expired.read_text(),
                    timeout=60), first.text()[-3000:]
        # The outbox is sent to the demo's mail catcher: an order confirmation arrives.
        inbox = tmp_path / "demo" / "mail" / "new"
        assert poll(lambda: any("Subject: Your Touchpoint Store order TP-" in p.read_text()
                                for p in (inbox.iterdir() if inbox.exists() else ())),
                    timeout=120), first.text()[-3000:]
        assert first.ctrl_c() == 0, first.text()[-3000:]
    finally:
        first.kill()
    text = first.text()
    assert "Stopped the store, localstripe and the mail catcher." in text
    # gunicorn stopped gracefully (SIGTERM), not its quick SIGINT exit, which ends a worker
    # inside its request with a SystemExit traceback.
    assert "Traceback" not in text, text[-3000:]
    assert "Handling signal: term" in text and "Handling signal: int" not in text
    assert not [pid for pid in started if _alive(pid)]
    assert not any(_listening(p) for p in (first.store_port, first.stripe_port, first.mail_port))
    stored = _journeys(tmp_path)

    second = Demo(tmp_path, 2)  # the same database and localstripe state: it starts again
    try:
        second.wait_running()
        assert poll(lambda: _journeys(tmp_path) > stored, timeout=60)
        second.children()
        second.proc.send_signal(signal.SIGTERM)  # `kill` rather than Ctrl-C: the same stop
        assert second.proc.wait(120) == 0
        assert not [pid for pid in second.children() if _alive(pid)]
        assert "Traceback" not in second.text()
        assert not _listening(second.store_port) and not _listening(second.stripe_port)
    finally:
        second.kill()


def _demo_module():
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _processes(demo):
    """The demo's process list without its signal handlers (pytest keeps its own)."""
    processes = demo.Processes.__new__(demo.Processes)
    processes.started, processes._holding, processes._requested = [], False, False
    return processes


def test_the_periodic_job_runs_again_and_again_one_run_at_a_time(tmp_path):
    demo = _demo_module()
    processes = _processes(demo)
    log = tmp_path / "job.log"
    job = demo.Periodic(processes, "the job", [sys.executable, "-c", "print('ran')"],
                        every=0.2, within=10, log=log)
    assert job.proc is None and job.runs == 0  # the first run waits one interval
    deadline = time.monotonic() + 20
    while job.runs < 3 and time.monotonic() < deadline:
        job.tick()
        assert len(processes.started) <= 1
        time.sleep(0.05)
    assert job.runs >= 3
    assert poll(lambda: job.tick() or job.proc is None, timeout=10)
    assert processes.started == [] and log.read_text().count("ran") >= 3


def test_a_periodic_run_that_hangs_is_killed_and_the_job_goes_on(tmp_path, capsys):
    demo = _demo_module()
    processes = _processes(demo)
    job = demo.Periodic(processes, "the job", [sys.executable, "-c", "import time; "
                                                "time.sleep(60)"],
                        every=0.1, within=0.5, log=tmp_path / "job.log")
    assert poll(lambda: job.tick() or job.proc is not None, timeout=5)
    hung = job.proc
    assert poll(lambda: job.tick() or job.proc is not hung, timeout=10)
    assert hung.poll() is not None and hung not in [p for p, _, _ in processes.started]
    assert "took longer than 0.5 s; killed it." in capsys.readouterr().out
    assert poll(lambda: job.tick() or job.runs >= 2, timeout=5)  # and it runs again
    processes.stop()


def test_a_port_in_use_is_said_and_nothing_is_started(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        env = {**os.environ, "PORT": str(port), "LOCALSTRIPE_PORT": str(free_port()),
               "DEMO_DIR": str(tmp_path / "demo"),
               "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}"}
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"Port {port} (the store) is already in use" in done.stderr
    assert not (tmp_path / "shop.db").exists() and not (tmp_path / "demo").exists()
